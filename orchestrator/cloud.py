"""The orchestrator as a cloud function: what it does with each kind of event.

* a bucket notification (object finalize): an upload, see `trigger.on_upload`;
* `{"kind": "wave_done"}` from the worker that closed a wave: start the next wave;
* a dead letter (a task message that exhausted its attempts): record the failure with the error
  its last attempt stored, so `emctl status` names it and `emctl retry` can re-run it.
"""
from __future__ import annotations

import json
import logging

from emcore.entry import decode_push, error_key
from emcore.names import names
from emcore.protocol import TaskMessage
from emcore.queues import cloud_queue as _cloud_queue
from emcore.storage import NotFound, open_storage
from orchestrator import engine, trigger

log = logging.getLogger("emctl")


def cloud_queue(root_url: str):
    """The cloud queue; on Google Cloud, plus a GKE batch Job for each wave of a GPU stage."""
    queue = _cloud_queue(root_url)
    if root_url.startswith("gs://"):
        from seamless.kube import LaunchingQueue
        queue = LaunchingQueue(queue)
    return queue


def on_wave_done(event: dict) -> str:
    store = open_storage(event["root"])
    job = engine.read_job(store)
    engine.advance(job, store, cloud_queue(store.url))
    return f"advanced after {event['wave']}"


def on_dead_letter(message: TaskMessage, attempts: int) -> str:
    store = open_storage(message.root)
    try:
        last = json.loads(store.read(error_key(message.wave_id, message.task)))
        error, trace = last["error"], last.get("traceback")
    except NotFound:
        error, trace = "the task never reported an error (worker killed or timed out?)", None
    delivered = TaskMessage(message.job, message.root, message.stage, message.wave, message.task,
                            message.params, attempts)
    engine.record_failure(store, delivered, error, trace)
    return f"recorded failure of {message.wave_id}/{message.task}"


def handle_push(envelope: dict) -> str:
    data, attributes, attempt = decode_push(envelope)
    if names().stage_of_dead_letter_subscription(envelope.get("subscription", "")):
        attempts = int(attributes.get("CloudPubSubDeadLetterSourceDeliveryCount", attempt))
        return on_dead_letter(TaskMessage.from_bytes(data), attempts)
    if attributes.get("eventType") == "OBJECT_FINALIZE":
        bucket = attributes["bucketId"]
        return trigger.on_upload(f"gs://{bucket}/", attributes["objectId"], cloud_queue(f"gs://{bucket}/"))
    event = json.loads(data)
    if event.get("kind") == "wave_done":
        return on_wave_done(event)
    raise ValueError(f"unknown event {sorted(event)}")


def handle_sqs(record: dict, dead_letter_stage: str | None) -> str:
    """An SQS record from the events queue (S3 notifications, wave_done) or a dead-letter queue."""
    from urllib.parse import unquote_plus
    body = json.loads(record["body"])
    if dead_letter_stage is not None:
        attempts = int(record.get("attributes", {}).get("ApproximateReceiveCount", 1))
        return on_dead_letter(TaskMessage(**body), attempts)
    if "Records" in body:  # an S3 event notification
        done = []
        for r in body["Records"]:
            if r.get("eventName", "").startswith("ObjectCreated"):
                bucket = r["s3"]["bucket"]["name"]
                key = unquote_plus(r["s3"]["object"]["key"])  # S3 URL-encodes keys in events
                done.append(trigger.on_upload(f"s3://{bucket}/", key, cloud_queue(f"s3://{bucket}/")))
        return "; ".join(done) or "no object created"
    if body.get("kind") == "wave_done":
        return on_wave_done(body)
    return "ignored: " + ",".join(sorted(body))
