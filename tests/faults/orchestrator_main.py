"""The orchestrator's real handler (orchestrator/main.py), served by functions-framework with the
faults of tests/faults/plan.py injected into its publishing and its event handling."""
from __future__ import annotations

import base64
import json

import functions_framework

from emcore.queues import PubSubQueue
from tests import noop
from tests.faults import plan

noop.register()
operations = plan.count_storage_operations()
_publish, _publish_event = PubSubQueue.publish, PubSubQueue.publish_event


def _armed(faults: dict, name: str, wave: str, call: int) -> bool:
    fault = faults.get(name)
    return bool(fault) and fault["wave"] == wave and call >= fault["call"] and plan.once(name)


def publish(self, messages):
    faults, wave = plan.plan(), messages[0].wave_id
    call = plan.nth_call(wave)
    if _armed(faults, "kill_orchestrator", wave, call):
        plan.die()
    if _armed(faults, "publish_fail", wave, call):
        raise plan.InjectedFault(f"publish call {call} of {wave} failed")
    if plan.unlucky():
        _publish(self, plan.partial(messages))
        raise plan.InjectedFault(f"publish of {wave} failed part-way")
    _publish(self, messages)


def publish_event(self, event):
    if plan.unlucky():
        raise plan.InjectedFault(f"event {event['kind']} not published")
    _publish_event(self, event)


PubSubQueue.publish, PubSubQueue.publish_event = publish, publish_event

from orchestrator.main import handle as real_handle  # noqa: E402  (after the queue is wrapped)


def _dropped(envelope) -> bool:
    drop = plan.plan().get("drop_wave_done")
    if not drop or not isinstance(envelope, dict) or "message" not in envelope:
        return False
    try:
        event = json.loads(base64.b64decode(envelope["message"].get("data", "")))
    except ValueError:
        return False
    return (isinstance(event, dict) and event.get("kind") == "wave_done" and event.get("wave") == drop["wave"]
            and plan.once("drop_wave_done"))


@functions_framework.http
def handle(request):
    try:
        if _dropped(request.get_json(silent=True)):
            return "", 204          # acknowledged, never acted on: as if dead-lettered for good
        return real_handle(request)
    finally:
        plan.write_ops(operations[0])
