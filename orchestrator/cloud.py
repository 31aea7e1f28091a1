"""The orchestrator as a cloud function: what it does with each kind of event.

* a bucket notification (object finalize): an upload, see `trigger.on_upload`;
* `{"kind": "wave_done"}` from a worker that found a wave complete: start the next wave;
* `{"kind": "fan_out"}`, `{"kind": "arrivals"}`: work an earlier invocation handed on because its
  turn was spent (a wave's next batches, the next page of an upload's listing);
* `{"kind": "sweep"}` from the deployment's scheduler: re-drive stalled jobs (orchestrator/sweep.py);
* a dead letter (a task message that exhausted its attempts): record the failure with the error
  its last attempt stored, so `emctl status` names it and `emctl retry` can re-run it.

Every handler is idempotent and does a bounded amount of work: a redelivered event (the last
invocation died, timed out, or met a failing publish) carries on from what storage records.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import replace

from emcore.entry import decode_push
from emcore.names import names
from emcore.protocol import TaskMessage
from emcore.queues import carrier
from emcore.storage import open_storage
from orchestrator import engine, sweep, trigger
from orchestrator.fanout import Pending, Turn

log = logging.getLogger("emctl")

# Messages one invocation publishes before handing the rest on: 5,000 take a few seconds, far
# inside the orchestrator's request timeout (infra/emctl_infra/profiles.py).
MESSAGES_PER_EVENT = 5000


def turn(event_id: str) -> Turn:
    """The share of work of the invocation handling event `event_id` (its redeliveries share it)."""
    return Turn(int(os.environ.get("EMCTL_MESSAGES_PER_EVENT", MESSAGES_PER_EVENT)), owner=event_id)


def task_queue(root_url: str):
    """Where the orchestrator publishes a job's tasks: the cloud's carrier and, on Google Cloud,
    a GKE batch Job launched for each batch of a GPU stage's wave."""
    queue = carrier(root_url)
    if root_url.startswith("gs://"):
        from seamless.kube import LaunchingQueue
        queue = LaunchingQueue(queue)
    return queue


def _hand_on(pending: Pending | None, queue) -> str:
    if pending is None:
        return ""
    queue.publish_event(pending.event())
    return f"; {pending.wave} round {pending.round} continues in another event"


def on_wave_done(event: dict, share: Turn) -> str:
    store = open_storage(event["root"])
    queue = task_queue(store.url)
    return f"advanced after {event['wave']}" + _hand_on(engine.advance(engine.read_job(store), store, queue,
                                                                        turn=share), queue)


def on_fan_out(event: dict, share: Turn) -> str:
    store = open_storage(event["root"])
    queue = task_queue(store.url)
    pending = Pending(store.url, event["wave"], event["round"])
    return f"published more of {event['wave']}" + _hand_on(
        engine.continue_round(engine.read_job(store), store, pending, queue, share), queue)


def on_dead_letter(data: bytes | str, attempts: int) -> str:
    try:
        message = TaskMessage.from_bytes(data)
    except ValueError as e:
        return f"dead letter dropped: {e}"   # nothing to record it against; no retry can help
    engine.record_failure(open_storage(message.root), replace(message, attempt=attempts))
    return f"recorded failure of {message.wave_id}/{message.task}"


def on_event(event: dict, share: Turn) -> str:
    """An event the orchestrator or a worker published (not a bucket notification)."""
    kind = event.get("kind")
    if kind == "wave_done":
        return on_wave_done(event, share)
    if kind == "fan_out":
        return on_fan_out(event, share)
    if kind == "arrivals":
        return trigger.on_arrivals(event, task_queue(event["inbox"]), share)
    if kind == "sweep":
        return sweep.sweep(event, task_queue, share)
    raise ValueError(f"unknown event kind {kind!r}")


def handle_push(envelope: dict) -> str:
    data, attributes, attempt = decode_push(envelope)
    share = turn(str(envelope["message"].get("messageId", "")))
    if names().stage_of_dead_letter_subscription(envelope.get("subscription", "")):
        attempts = int(attributes.get("CloudPubSubDeadLetterSourceDeliveryCount", attempt))
        return on_dead_letter(data, attempts)
    if attributes.get("eventType") == "OBJECT_FINALIZE":
        bucket = attributes["bucketId"]
        return trigger.on_upload(f"gs://{bucket}/", attributes["objectId"], task_queue(f"gs://{bucket}/"), share)
    return on_event(json.loads(data), share)


def handle_sqs(record: dict, dead_letter_stage: str | None) -> str:
    """An SQS record from the events queue (S3 notifications, the events above) or a dead-letter queue."""
    from urllib.parse import unquote_plus
    if dead_letter_stage is not None:
        attempts = int(record.get("attributes", {}).get("ApproximateReceiveCount", 1))
        return on_dead_letter(record["body"], attempts)
    body = json.loads(record["body"])
    share = turn(record["messageId"])
    if "Records" in body:  # an S3 event notification
        done = []
        for r in body["Records"]:
            if r.get("eventName", "").startswith("ObjectCreated"):
                bucket = r["s3"]["bucket"]["name"]
                key = unquote_plus(r["s3"]["object"]["key"])  # S3 URL-encodes keys in events
                done.append(trigger.on_upload(f"s3://{bucket}/", key, task_queue(f"s3://{bucket}/"), share))
        return "; ".join(done) or "no object created"
    if "kind" in body:
        return on_event(body, share)
    return "ignored: " + ",".join(sorted(body))
