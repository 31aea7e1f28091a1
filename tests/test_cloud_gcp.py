"""End to end on the emulated Google Cloud (see tests/cloud_gcp.py): uploads alone start the job,
push subscriptions run every function as a real HTTP server, dead letters are recorded, and the
output equals the local backend's."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from emcore.job import load_job
from emcore.jobroot import JOB, marker_key, marker_prefix, plan_key
from emcore.protocol import TaskMessage
from emcore.storage import open_storage
from orchestrator import engine
from orchestrator.local import LocalRunner
from orchestrator.status import job_status
from tests.stacks import smooth_stack, write_pngs
from tests.waiting import wait_for

pytestmark = pytest.mark.emulator

SECTIONS = 12


@pytest.fixture(scope="module")
def cloud():
    import emulators
    from cloud_gcp import emulated_gcp
    try:
        with emulated_gcp() as c:
            yield c
    except emulators.EmulatorUnavailable as e:
        pytest.skip(str(e))


def config(job_id, source, dest):
    return {"id": job_id, "source": source, "maxz": SECTIONS - 1, "dest": dest, "resolution": [8, 8, 8],
            "stages": {"pyramid": {"block": [64, 64, 64], "chunk": [32, 32, 32], "raw": True}}}


def upload(cloud, job_id, stack, cfg, corrupt: int | None = None):
    import cv2
    bucket = cloud.bucket()
    # The config first for one job, the sections first for another: order must not matter.
    for z, section in enumerate(stack):
        data = cv2.imencode(".png", section)[1].tobytes()
        if z == corrupt:
            data = data[: len(data) // 3]
        bucket.blob(f"uploads/{job_id}/raw/img{z:05d}.png").upload_from_string(data)
    bucket.blob(f"uploads/{job_id}/job.json").upload_from_string(json.dumps(cfg))


def read_volume(url, mip=0):
    from emcore.volume import open_scale
    store = open_scale(url, mip, read_only=True)
    return store.read().result()


def test_uploads_alone_run_the_job_and_match_the_local_backend(cloud, tmp_path):
    stack = smooth_stack(150, 100, SECTIONS, seed=3)
    cfg = config("cloud-a", "gs://emctl-data/uploads/cloud-a/raw/", "gs://emctl-data/jobs/cloud-a/")
    upload(cloud, "cloud-a", stack, cfg)
    store = open_storage(cfg["dest"])
    status = wait_for(store)
    assert status.state == "complete", status.to_json()

    write_pngs(tmp_path / "raw", stack)
    local_cfg = config("cloud-a", str(tmp_path / "raw"), str(tmp_path / "out"))
    job = load_job(local_cfg)
    local = open_storage(job.dest)
    engine.submit_job(local, job)
    LocalRunner(job, local, workers=0).run()
    for layer in ("image_raw", "image"):
        assert json.loads(store.read(f"{layer}/info")) == json.loads(local.read(f"{layer}/info"))
        np.testing.assert_array_equal(read_volume(store.url + layer), read_volume(local.url + layer))


def test_duplicate_delivery_changes_nothing(cloud):
    dest = "gs://emctl-data/jobs/cloud-a/"
    store = open_storage(dest)
    before = store.read("image_raw/info"), sorted(store.list(marker_prefix("pyramid.0")))
    marker = json.loads(store.read(marker_key("pyramid.0", 0)))
    plan = json.loads(store.read(plan_key("pyramid.0")))
    job = engine.read_job(store)
    message = TaskMessage("cloud-a", store.url, "pyramid", "0", 0, plan["tasks"][0], 1, plan["count"], job.generation)
    from google.cloud import pubsub_v1
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path("emctl-test", cloud.names.task_topic("pyramid"))
    for _ in range(2):
        publisher.publish(topic, message.to_bytes()).result()
    time.sleep(3)
    assert json.loads(store.read(marker_key("pyramid.0", 0))) == marker, "one marker, untouched"
    assert (store.read("image_raw/info"), sorted(store.list(marker_prefix("pyramid.0")))) == before
    assert job_status(store).state == "complete"


def test_poison_task_is_dead_lettered_and_retry_completes(cloud):
    stack = smooth_stack(96, 64, SECTIONS, seed=5)
    cfg = config("cloud-b", "gs://emctl-data/uploads/cloud-b/raw/", "gs://emctl-data/jobs/cloud-b/")
    upload(cloud, "cloud-b", stack, cfg, corrupt=4)
    store = open_storage(cfg["dest"])
    status = wait_for(store, states=("failed",))
    failures = [(w.wave, f) for w in status.waves for f in w.failed]
    assert len(failures) == 1
    wave, failure = failures[0]
    assert wave == "align.render" and failure.task == "4"
    assert "img00004.png cannot be decoded" in failure.error
    assert failure.attempts >= 5
    render = next(w for w in status.waves if w.wave == "align.render")
    assert render.done == SECTIONS - 1, "every other task finished"

    import cv2
    cloud.bucket().blob("uploads/cloud-b/raw/img00004.png").upload_from_string(cv2.imencode(".png", stack[4])[1].tobytes())
    from orchestrator.cli.main import main as emctl
    assert emctl(["retry", cfg["dest"], "--quiet"]) == 0
    status = wait_for(store, states=("complete",))
    assert status.state == "complete"
    got = read_volume(store.url + "image_raw")[..., 0]
    np.testing.assert_array_equal(got, stack.transpose(2, 1, 0))


def test_worker_killed_mid_task_is_redelivered(cloud):
    """SIGKILL the pyramid service's worker process while the wave runs (as a Cloud Run instance
    can die): the request in flight fails, Pub/Sub redelivers, the job completes correctly."""
    import psutil
    stack = smooth_stack(160, 128, SECTIONS, seed=9)
    cfg = config("cloud-c", "gs://emctl-data/uploads/cloud-c/raw/", "gs://emctl-data/jobs/cloud-c/")
    cfg["stages"]["pyramid"] = {"block": [32, 32, 32], "chunk": [16, 16, 16], "raw": True}
    upload(cloud, "cloud-c", stack, cfg)
    store = open_storage(cfg["dest"])
    deadline = time.time() + 120
    while sum(1 for _ in store.list(marker_prefix("pyramid.0"))) < 2:
        assert time.time() < deadline
        time.sleep(0.05)
    server = psutil.Process(cloud.servers["pyramid"].proc.pid)
    workers = server.children(recursive=True)
    assert workers, "functions-framework runs its function in worker processes"
    for w in workers:
        w.kill()
    count = json.loads(store.read(plan_key("pyramid.0")))["count"]
    killed_at = sum(1 for _ in store.list(marker_prefix("pyramid.0")))
    assert killed_at < count, "killed while the wave was running"
    status = wait_for(store, states=("complete",))
    assert status.state == "complete"
    got = read_volume(store.url + "image_raw")[..., 0]
    np.testing.assert_array_equal(got, stack.transpose(2, 1, 0))


def test_emctl_start_with_a_cloud_dest_takes_the_upload_path(cloud, tmp_path, capsys):
    """`emctl start` with a gs:// dest and a local source uploads the sections and the config
    under the bucket's upload prefix; the bucket's notifications do the rest. A second job with
    the same id uploads apart (another dest), or is refused (the same dest, another config)
    before anything of the first is overwritten."""
    from orchestrator.cli.main import main as emctl
    stacks = {"d1": smooth_stack(70, 60, SECTIONS, seed=13), "d2": smooth_stack(70, 60, SECTIONS, seed=14)}
    for name, stack in stacks.items():
        write_pngs(tmp_path / name, stack)
        cfg = config("cloud-d", str(tmp_path / name), f"gs://emctl-data/jobs/cloud-{name}/")
        (tmp_path / f"{name}.json").write_text(json.dumps(cfg))
        assert emctl(["start", "--config", str(tmp_path / f"{name}.json")]) == 0
    inboxes = {blob.name.split("/")[1] for blob in cloud.bucket().list_blobs(prefix="uploads/cloud-d")}
    assert len(inboxes) == 2 and all(i.startswith("cloud-d-") for i in inboxes), "one folder per job"
    for name, stack in stacks.items():
        store = open_storage(f"gs://emctl-data/jobs/cloud-{name}/")
        assert wait_for(store, states=("complete",)).state == "complete"
        np.testing.assert_array_equal(read_volume(store.url + "image_raw")[..., 0], stack.transpose(2, 1, 0))
        assert json.loads(store.read(JOB))["source"].startswith("gs://emctl-data/uploads/cloud-d-")

    clash = config("cloud-d", str(tmp_path / "d2"), "gs://emctl-data/jobs/cloud-d1/")
    clash["stages"]["pyramid"]["raw"] = False
    (tmp_path / "clash.json").write_text(json.dumps(clash))
    before = {b.name: b.md5_hash for b in cloud.bucket().list_blobs(prefix="uploads/cloud-d")}
    capsys.readouterr()
    assert emctl(["start", "--config", str(tmp_path / "clash.json")]) == 2
    assert "holds a different job" in capsys.readouterr().err
    assert {b.name: b.md5_hash for b in cloud.bucket().list_blobs(prefix="uploads/cloud-d")} == before
