"""The cloud entry points in process: functions-framework apps (Flask test client) receiving the
exact Pub/Sub push envelope and the Eventarc CloudEvent form, against fake-gcs-server; and the
image definitions each function deploys with."""
from __future__ import annotations

import base64
import json
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from emcore import registry
from emcore.failures import errors_key
from emcore.job import load_job
from emcore.jobroot import marker_key
from emcore.protocol import TaskMessage
from emcore.spec import FUNCTION
from emcore.storage import open_storage
from orchestrator import engine

ROOT = Path(__file__).resolve().parent.parent


class RecordingQueue:
    def __init__(self):
        self.messages = []

    def publish(self, messages):
        self.messages.extend(messages)


@pytest.fixture
def render_wave(gcs_server, monkeypatch):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    monkeypatch.setenv("TENSORSTORE_GCS_HTTP_URL", gcs_server.endpoint)
    client = storage.Client(project="p", credentials=AnonymousCredentials())
    if client.lookup_bucket("entrypoints") is None:
        client.create_bucket("entrypoints")
    source = open_storage("gs://entrypoints/raw/")
    for z in range(3):
        source.write(f"img{z:05d}.png", cv2.imencode(".png", np.full((40, 50), 10 * z, np.uint8))[1].tobytes())
    job = load_job({"id": "ep", "source": source.url, "maxz": 2,
                             "dest": f"gs://entrypoints/jobs/{np.random.randint(1 << 30)}/", "stages": {"pyramid": {}}})
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    queue = RecordingQueue()
    engine.advance(job, store, queue)
    return store, queue.messages


def push_envelope(message, attempt=1):
    data = base64.b64encode(message.to_bytes()).decode()
    return {"subscription": "projects/p/subscriptions/emctl-align-push", "deliveryAttempt": attempt,
            "message": {"data": data, "attributes": {}, "messageId": "12", "message_id": "12",
                        "publishTime": "2026-11-22T00:00:00Z", "publish_time": "2026-11-22T00:00:00Z"}}


def test_push_envelope_runs_the_task(render_wave, monkeypatch):
    from functions_framework import create_app
    store, messages = render_wave
    client = create_app("handle", align_entry(monkeypatch)).test_client()
    response = client.post("/", json=push_envelope(messages[0]))
    assert response.status_code == 204
    assert json.loads(store.read(marker_key("align.render", 0)))["task"] == 0
    assert client.post("/", json={"not": "an envelope"}).status_code == 400


def test_cloudevent_form_runs_the_task(render_wave, monkeypatch):
    from functions_framework import create_app
    store, messages = render_wave
    client = create_app("handle_event", align_entry(monkeypatch), "cloudevent").test_client()
    event = {"specversion": "1.0", "type": "google.cloud.pubsub.topic.v1.messagePublished",
             "source": "//pubsub.googleapis.com/projects/p/topics/emctl-align-tasks", "id": "1",
             "datacontenttype": "application/json", "data": push_envelope(messages[1])}
    response = client.post("/", json=event, headers={"Content-Type": "application/cloudevents+json"})
    assert response.status_code == 200, response.data
    assert store.exists(marker_key("align.render", 1))


def test_failed_task_is_a_5xx_and_its_error_is_kept(render_wave, monkeypatch):
    from functions_framework import create_app
    store, messages = render_wave
    open_storage("gs://entrypoints/raw/").write("img00002.png", b"\x89PNG broken")
    client = create_app("handle", align_entry(monkeypatch)).test_client()
    assert client.post("/", json=push_envelope(messages[2], attempt=3)).status_code == 500
    error = json.loads(store.read(errors_key("align.render", 2)))
    assert "img00002.png is not a PNG file" in error["error"] and error["attempts"] == 3
    assert not store.exists(marker_key("align.render", 2))


def test_every_image_serves_its_own_stage_from_the_one_template(monkeypatch):
    """`make images` builds what the registry lists; each function image sets EMCTL_FUNCTION to
    its own name, and the one entry point then serves that stage and refuses another's task."""
    from functions_framework import create_app
    base = (ROOT / "docker/base.Dockerfile").read_text()
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim-\w+$", base, re.M), "base image pinned to a release"
    listed = subprocess.run([str(ROOT / "docker/build-images.sh"), "--list"], capture_output=True, text=True,
                            check=True).stdout.split("\n")
    images = [tuple(line.split()) for line in listed if line]
    assert images == registry.images()
    template = (ROOT / registry.FUNCTION_DOCKERFILE).read_text()
    assert "FROM ${BASE}" in template and "ENV EMCTL_FUNCTION=${FUNCTION}" in template
    assert "--source ${EMCTL_SOURCE}" in template and "ENV EMCTL_FUNCTION=${FUNCTION} EMCTL_SOURCE=${SOURCE}" in template
    served = {name for name, dockerfile, function, _ in images if dockerfile == registry.FUNCTION_DOCKERFILE}
    assert served == {*registry.function_stages(), registry.ORCHESTRATOR}
    other = TaskMessage("j", "mem://x/", "elsewhere", "w", 0, {}, 1, 1, "0" * 16)
    for name, _, function, source in images:
        if function in ("-", registry.ORCHESTRATOR):
            continue
        monkeypatch.setenv("EMCTL_FUNCTION", function)
        client = create_app("handle", str(ROOT / source)).test_client()
        response = client.post("/", json=push_envelope(replace(other, stage=name)))
        assert response.status_code == 500, f"{name}: its own stage's task is run (and fails: no job there)"
        response = client.post("/", json=push_envelope(other))
        assert response.status_code == 400 and f"delivered to {name!r}" in response.get_data(as_text=True)


def align_entry(monkeypatch) -> str:
    """The entry point of the align image."""
    monkeypatch.setenv("EMCTL_FUNCTION", "align")
    return str(ROOT / registry.ENTRY_POINTS[FUNCTION])
