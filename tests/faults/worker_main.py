"""A stage's real entry point (emcore/handlers.py), served by functions-framework for the stage in
$EMCTL_FUNCTION, with its task runs logged and the faults of tests/faults/plan.py injected."""
from __future__ import annotations

import os

import functions_framework

from emcore.handlers import handlers
from emcore.queues import PubSubQueue
from tests import noop
from tests.faults import plan

noop.register()
operations = plan.count_storage_operations()
_publish_event = PubSubQueue.publish_event


def publish_event(self, event):
    lose = plan.plan().get("lose_wave_done")
    if lose and event.get("kind") == "wave_done" and event.get("wave") == lose["wave"] and plan.once("lose_wave_done"):
        raise plan.InjectedFault(f"wave_done of {event['wave']} lost")
    if plan.unlucky():
        raise plan.InjectedFault(f"event {event['kind']} not published")
    _publish_event(self, event)


PubSubQueue.publish_event = publish_event


class Observed:
    """The stage itself, its runs logged; a worker that dies at the start of a run where armed."""

    def __init__(self, inner):
        self.inner, self.name = inner, inner.name

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def wave(self, name):
        return ObservedWave(self.inner.wave(name))


class ObservedWave:
    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def run(self, ctx, task):
        wid = f"{ctx.stage}.{ctx.wave}"
        plan.log_run("start", ctx.store.url, wid, ctx.task)
        kill = plan.plan().get("kill_worker")
        if kill and kill["wave"] == wid and kill["task"] == ctx.task and plan.once("kill_worker"):
            plan.die()
        result = self.inner.run(ctx, task)
        plan.log_run("end", ctx.store.url, wid, ctx.task)
        return result


from emcore import registry  # noqa: E402

http, _, _ = handlers(Observed(registry.stage(os.environ["EMCTL_FUNCTION"])))


@functions_framework.http
def handle(request):
    try:
        return http(request)
    finally:
        plan.write_ops(operations[0])
