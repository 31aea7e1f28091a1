"""End to end on emulated AWS (moto's S3 and SQS over a socket; the Lambda handlers called by the
polling loop in tests/cloud_aws.py, because moto cannot run Lambda): uploads alone start the job,
a poison task is dead-lettered and reported, `emctl retry` completes it, and the output equals
the local backend's."""
from __future__ import annotations

import json

import numpy as np
import pytest

from emcore import registry
from emcore.job import load_job
from emcore.names import Names
from emcore.storage import open_storage
from orchestrator import engine
from orchestrator.local import LocalRunner
from tests.stacks import smooth_stack, write_pngs
from tests.waiting import wait_for

pytestmark = pytest.mark.emulator
SECTIONS = 10


@pytest.fixture(scope="module")
def aws(s3_server):
    from cloud_aws import EmulatedAWS
    cloud = EmulatedAWS(Names("emctl"), registry.function_stages())
    cloud.provision()
    cloud.start()
    yield cloud
    cloud.stop()


def config(job_id, source, dest):
    return {"id": job_id, "source": source, "maxz": SECTIONS - 1, "dest": dest,
            "stages": {"pyramid": {"block": [64, 64, 64], "chunk": [32, 32, 32], "raw": True}}}


def upload(aws, job_id, stack, cfg, corrupt=None):
    import cv2
    from cloud_aws import BUCKET
    for z, section in enumerate(stack):
        data = cv2.imencode(".png", section)[1].tobytes()
        aws.s3.put_object(Bucket=BUCKET, Key=f"uploads/{job_id}/raw/img{z:05d}.png",
                          Body=data[: len(data) // 3] if z == corrupt else data)
    aws.s3.put_object(Bucket=BUCKET, Key=f"uploads/{job_id}/job.json", Body=json.dumps(cfg).encode())


def test_uploads_run_the_job_on_s3_and_sqs(aws, tmp_path):
    from cloud_aws import BUCKET
    stack = smooth_stack(130, 90, SECTIONS, seed=11)
    cfg = config("aws-a", f"s3://{BUCKET}/uploads/aws-a/raw/", f"s3://{BUCKET}/jobs/aws-a/")
    upload(aws, "aws-a", stack, cfg)
    store = open_storage(cfg["dest"])
    assert wait_for(store, ("complete",)).state == "complete"

    write_pngs(tmp_path / "raw", stack)
    job = load_job(config("aws-a", str(tmp_path / "raw"), str(tmp_path / "out")))
    local = open_storage(job.dest)
    engine.submit_job(local, job)
    LocalRunner(job, local, workers=0).run()
    from emcore.volume import open_scale
    for layer in ("image_raw", "image"):
        a = open_scale(store.url + layer, 0, read_only=True).read().result()
        b = open_scale(local.url + layer, 0, read_only=True).read().result()
        np.testing.assert_array_equal(a, b)


def test_poison_task_dead_lettered_then_retried(aws):
    from cloud_aws import BUCKET, MAX_RECEIVE_COUNT
    stack = smooth_stack(80, 70, SECTIONS, seed=12)
    cfg = config("aws-b", f"s3://{BUCKET}/uploads/aws-b/raw/", f"s3://{BUCKET}/jobs/aws-b/")
    upload(aws, "aws-b", stack, cfg, corrupt=6)
    store = open_storage(cfg["dest"])
    status = wait_for(store, ("failed",))
    failed = [(w.wave, f) for w in status.waves for f in w.failed]
    assert [(w, f.task) for w, f in failed] == [("align.render", "6")]
    assert "img00006.png cannot be decoded" in failed[0][1].error
    assert failed[0][1].attempts >= MAX_RECEIVE_COUNT
    import cv2
    aws.s3.put_object(Bucket=BUCKET, Key="uploads/aws-b/raw/img00006.png", Body=cv2.imencode(".png", stack[6])[1].tobytes())
    from orchestrator.cli.main import main as emctl
    assert emctl(["retry", cfg["dest"], "--quiet"]) == 0
    assert wait_for(store, ("complete",)).state == "complete"
