"""What every cloud entry point does with one delivery, whatever carried it (a Pub/Sub push
envelope, an Eventarc CloudEvent, an SQS record).

1. Run the task (`worker.execute`: skipped if its marker exists).
2. Count it (`counting.record_done`), also on a duplicate delivery, so a worker that died between
   its marker and the count is made good by the redelivery.
3. If the wave is complete, tell the orchestrator with one event. Workers, not bucket
   notifications, report completions: one event per wave instead of one per task (plus one per
   redelivery of a task of a complete wave, which makes good a lost event).
On failure the error is stored under the job's state (emcore/failures.py) before the delivery is
refused, so that the dead-letter handler can report what went wrong.
"""
from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import replace
from typing import Any

from emcore import counting, failures
from emcore.jobroot import dumps
from emcore.protocol import TaskMessage
from emcore.stage import Stage
from emcore.storage import open_storage
from emcore.worker import StaleTask, execute

log = logging.getLogger("emctl")


def run_delivery(message: TaskMessage, stage: Stage, events) -> dict[str, Any]:
    """`events()` gives the channel to the orchestrator; it is made only if this task finds its
    wave complete, so most deliveries never touch it."""
    store = open_storage(message.root)
    try:
        marker = execute(message, stage, store)
    except StaleTask as exc:
        # The job this message belonged to was replaced at its root: nothing to run or count.
        log.warning("task %s/%s dropped: %s", message.wave_id, message.task, exc)
        return {"task": message.task, "stale": True}
    except Exception as exc:
        error = failures.record_attempt(store, message.wave_id, message.task, message.attempt, exc)
        log.error("task %s/%s attempt %d failed: %s", message.wave_id, message.task, message.attempt, error)
        raise
    # Counted on every delivery, a duplicate too: if the wave is complete, whoever completed it
    # may have died before its wave_done went out, so a redelivery sends it again (the
    # orchestrator's handling is idempotent).
    if counting.record_done(store, message.wave_id, message.count, message.task,
                            dumps({"time": time.time()})).complete:
        events().publish_event({"kind": "wave_done", "root": message.root, "wave": message.wave_id})
    return marker


def decode_push(envelope: dict) -> tuple[bytes, dict, int]:
    """(data, attributes, delivery attempt) of a Pub/Sub push envelope."""
    try:
        msg = envelope["message"]
    except (KeyError, TypeError):
        raise ValueError("not a Pub/Sub push envelope (no 'message')") from None
    data = base64.b64decode(msg.get("data", ""))
    return data, msg.get("attributes") or {}, int(envelope.get("deliveryAttempt") or 1)


def task_from_push(envelope: dict) -> TaskMessage:
    data, _, attempt = decode_push(envelope)
    return replace(TaskMessage.from_bytes(data), attempt=attempt)


def task_from_cloudevent(event) -> TaskMessage:
    """Eventarc delivers Pub/Sub messages as CloudEvents whose data is {"message": {...}}."""
    return task_from_push(event.data if isinstance(event.data, dict) else json.loads(event.data))


def task_from_sqs(record: dict) -> TaskMessage:
    attempt = int(record.get("attributes", {}).get("ApproximateReceiveCount", 1))
    return replace(TaskMessage.from_bytes(record["body"]), attempt=attempt)
