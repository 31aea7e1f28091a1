"""Cloud queues behind the one `publish(messages)` interface the engine uses, plus the events
channel to the orchestrator. Pub/Sub publishes in large batches concurrently; SQS in batches of 10
(its limit). Clients are made once per process."""
from __future__ import annotations

import functools
import json
import os
from typing import Iterable

from emcore.names import Names, names
from emcore.protocol import TaskMessage


def project_id() -> str:
    for var in ("EMCTL_PROJECT", "GOOGLE_CLOUD_PROJECT", "PUBSUB_PROJECT_ID", "GCLOUD_PROJECT"):
        if os.environ.get(var):
            return os.environ[var]
    raise RuntimeError("no Google Cloud project: set EMCTL_PROJECT (or GOOGLE_CLOUD_PROJECT)")


@functools.cache
def _publisher(pid: int, emulator: str | None):
    """One client per process and endpoint (the emulator's, in tests, may change)."""
    from google.cloud import pubsub_v1
    settings = pubsub_v1.types.BatchSettings(max_messages=1000, max_bytes=9_000_000, max_latency=0.05)
    return pubsub_v1.PublisherClient(batch_settings=settings)


class PubSubQueue:
    def __init__(self, project: str | None = None, resource_names: Names | None = None):
        self.project = project or project_id()
        self.names = resource_names or names()
        self.client = _publisher(os.getpid(), os.environ.get("PUBSUB_EMULATOR_HOST"))

    def _topic(self, name: str) -> str:
        return self.client.topic_path(self.project, name)

    def publish(self, messages: list[TaskMessage]) -> None:
        # Publishing is asynchronous and batched by the client; wait for every future so a wave
        # counts as fanned out only once all of it is accepted.
        futures = [self.client.publish(self._topic(self.names.task_topic(m.stage)), m.to_bytes(),
                                       job=m.job, wave=m.wave_id, task=str(m.task)) for m in messages]
        for f in futures:
            f.result(timeout=120)

    def publish_event(self, event: dict) -> None:
        self.client.publish(self._topic(self.names.events_topic), json.dumps(event).encode(),
                            kind=event["kind"]).result(timeout=60)


@functools.cache
def _sqs(pid: int, endpoint: str | None):
    import boto3
    return boto3.client("sqs")


class SQSQueue:
    BATCH = 10  # SQS's own limit per SendMessageBatch

    def __init__(self, resource_names: Names | None = None):
        self.names = resource_names or names()
        self.client = _sqs(os.getpid(), os.environ.get("AWS_ENDPOINT_URL_SQS") or os.environ.get("AWS_ENDPOINT_URL"))
        self._urls: dict[str, str] = {}

    def url(self, queue: str) -> str:
        if queue not in self._urls:
            self._urls[queue] = self.client.get_queue_url(QueueName=queue)["QueueUrl"]
        return self._urls[queue]

    def publish(self, messages: list[TaskMessage]) -> None:
        by_stage: dict[str, list[TaskMessage]] = {}
        for m in messages:
            by_stage.setdefault(m.stage, []).append(m)
        for stage, batch in by_stage.items():
            self._send(self.url(self.names.queue(stage)), [m.to_bytes().decode() for m in batch])

    def _send(self, url: str, bodies: Iterable[str]) -> None:
        bodies = list(bodies)
        for i in range(0, len(bodies), self.BATCH):
            entries = [{"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies[i:i + self.BATCH])]
            for _ in range(5):
                failed = self.client.send_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])
                if not failed:
                    break
                ids = {f["Id"] for f in failed}
                entries = [e for e in entries if e["Id"] in ids]
            else:
                raise RuntimeError(f"SQS refused {len(entries)} messages for {url}")

    def publish_event(self, event: dict) -> None:
        self._send(self.url(self.names.events_queue), [json.dumps(event)])


def carrier(root_url: str):
    """The messaging of the cloud a job's root `root_url` lies in: Pub/Sub for gs://, SQS for s3://.
    Workers use it to send events to the orchestrator; the orchestrator publishes tasks through
    `orchestrator.cloud.task_queue`, which adds the GPU stages' Jobs."""
    if root_url.startswith("gs://"):
        return PubSubQueue()
    if root_url.startswith("s3://"):
        return SQSQueue()
    raise ValueError(f"no cloud queue serves {root_url}")
