"""The GPU Job's worker entry point (`python -m seamless worker`), run as a process against Google's
Pub/Sub emulator: it drains a wave of tasks published by the engine to the stage's pull
subscription, writes the same markers as any task, counts them, and the task that closes the
wave tells the orchestrator; a task that fails is nacked until the subscription dead-letters it,
a message that is not a task is dropped, and the worker exits once the subscription is quiet (at
once when its waves are done; here one never will be, the lost task's, so after --max-idle)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from emcore import fieldstore as volumes
from emcore.failures import errors_key
from emcore.job import load_job
from emcore.jobroot import done_key, marker_key
from emcore.names import Names
from emcore.protocol import TaskMessage
from emcore.storage import open_storage
from orchestrator import engine
from orchestrator.samplestack import section_images
from seamless import kube

ROOT = Path(__file__).resolve().parent.parent
GPU_JOBS = ROOT / "gpu-jobs"

pytestmark = pytest.mark.emulator


def pull_all(subscriber, path: str, wait: float = 10.0) -> list:
    deadline, out = time.monotonic() + wait, []
    while time.monotonic() < deadline:
        response = subscriber.pull(request={"subscription": path, "max_messages": 10}, timeout=5)
        if response.received_messages:
            out += list(response.received_messages)
            subscriber.acknowledge(request={"subscription": path, "ack_ids": [m.ack_id for m in response.received_messages]})
        elif out:
            break
    return out


def test_worker_drains_a_wave_like_any_other_task(pubsub_emulator, tmp_path, monkeypatch):
    from google.cloud import pubsub_v1
    from google.cloud.pubsub_v1.types import DeadLetterPolicy
    from emcore.queues import PubSubQueue
    project = pubsub_emulator.env["PUBSUB_PROJECT_ID"]
    prefix = f"sw{os.getpid() % 100000}"
    monkeypatch.setenv("EMCTL_PREFIX", prefix)
    monkeypatch.setenv("EMCTL_PROJECT", project)
    names = Names(prefix)
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = lambda name: publisher.topic_path(project, name)  # noqa: E731
    sub = lambda name: subscriber.subscription_path(project, name)  # noqa: E731
    for name in (names.task_topic("seamless"), names.dead_letter_topic("seamless"), names.events_topic):
        publisher.create_topic(request={"name": topic(name)})
    # What infra/ creates for a GPU stage: a pull subscription with a dead-letter policy; plus two
    # probes standing in for the orchestrator's push subscriptions.
    pull = kube.pull_subscription(names, "seamless")
    subscriber.create_subscription(request={
        "name": sub(pull), "topic": topic(names.task_topic("seamless")), "ack_deadline_seconds": 10,
        "dead_letter_policy": DeadLetterPolicy(dead_letter_topic=topic(names.dead_letter_topic("seamless")),
                                               max_delivery_attempts=5)})
    subscriber.create_subscription(request={"name": sub("events-probe"), "topic": topic(names.events_topic)})
    subscriber.create_subscription(request={"name": sub("dead-probe"), "topic": topic(names.dead_letter_topic("seamless"))})

    source = open_storage(str(tmp_path / "raw"))
    for z, image in enumerate(section_images(96, 4, seed=2)):
        source.write(f"img{z:05d}.png", cv2.imencode(".png", image)[1].tobytes())
    job = load_job({"id": "worker-test", "source": source.url, "dest": str(tmp_path / "job"), "maxz": 3,
                             "stages": {"seamless": {"mip": 1}}})
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    engine.advance(job, store, PubSubQueue())            # plans and publishes seamless.images
    publisher.publish(topic(names.task_topic("seamless")), b"not a task").result()
    lost = TaskMessage("lost", (tmp_path / "nowhere").as_uri() + "/", "seamless", "images", 0, {"z": 0}, 1, 1,
                       job.generation)
    publisher.publish(topic(names.task_topic("seamless")), lost.to_bytes()).result()

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(GPU_JOBS)])}
    run = subprocess.run([sys.executable, "-m", "seamless", "worker", "--subscription", pull, "--idle", "2",
                          "--max-idle", "6"],
                         env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    tally = json.loads(run.stdout.strip().splitlines()[-1])
    assert tally["done"] == 4 and tally["waves"] == {"seamless.images": 4}
    assert tally["malformed"] == 1 and tally["failed"] == 5          # five deliveries, then dead-lettered

    for task in range(4):
        marker = json.loads(store.read(marker_key("seamless.images", task)))
        assert set(marker) == {"task", "worker", "started", "seconds", "cpu_seconds", "attempt", "summary"}
        assert marker["summary"]["z"] == task
    assert store.exists(done_key("seamless.images"))
    images = volumes.open_volume(store, volumes.IMAGES)
    assert all(volumes.read_slice(images, job, z).max() > 0 for z in range(4))
    events = [json.loads(m.message.data) for m in pull_all(subscriber, sub("events-probe"))]
    assert events == [{"kind": "wave_done", "root": store.url, "wave": "seamless.images"}]
    dead = [TaskMessage.from_bytes(m.message.data) for m in pull_all(subscriber, sub("dead-probe"))]
    assert [(m.job, m.task) for m in dead] == [("lost", 0)]
    assert (tmp_path / "nowhere" / errors_key("seamless.images", 0)).exists()
