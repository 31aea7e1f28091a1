"""Faults on the emulated Google Cloud (tests/cloud_gcp.py): Google's Pub/Sub emulator, the
bucket's notifications, every function a real functions-framework server. The faults themselves
are injected inside the servers (tests/faults/plan.py, the fakes of this suite): a publish that
fails mid fan-out, a wave_done lost, an orchestrator killed in the middle of a request, a worker
killed in the middle of a task, a wave_done dropped for good (which only the sweep recovers).

Each job must complete after the redelivery or the sweep with every output byte-identical to an
undisturbed run of the same job, and no task that had finished may run again: the servers log
every run, and each task must have finished exactly once.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time

import cv2
import pytest

from emcore.jobroot import fanout_key, fanout_prefix
from emcore.storage import open_storage
from tests.faults import plan
from tests.stacks import smooth_stack
from tests.waiting import wait_for

pytestmark = pytest.mark.emulator

SECTIONS = 24
STACK = "stack/raw/"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    import emulators
    from cloud_gcp import emulated_gcp
    faults = tmp_path_factory.mktemp("faults")
    # Small batches and turns, so that a 24-section wave is fanned out in 6 recorded batches by
    # 3 events; one request at a time per server, so that a kill interrupts one task only.
    env = {"EMCTL_FAULTS_DIR": str(faults), "EMCTL_PUBLISH_BATCH": "4", "EMCTL_MESSAGES_PER_EVENT": "8",
           "THREADS": "1"}
    try:
        with emulated_gcp(faults=True, extra_env=env) as c:
            c.faults = str(faults)
            bucket = c.bucket()
            for z, section in enumerate(smooth_stack(64, 48, SECTIONS, seed=21)):
                bucket.blob(f"{STACK}img{z:05d}.png").upload_from_string(cv2.imencode(".png", section)[1].tobytes())
            yield c
    except emulators.EmulatorUnavailable as e:
        pytest.skip(str(e))


def run_job(cloud, job_id: str, **faults):
    """Arm `faults`, upload the job's config (its sections are in place), wait for the end."""
    plan.arm(cloud.faults, **faults)
    dest = f"gs://emctl-data/jobs/{job_id}/"
    config = {"id": job_id, "source": f"gs://emctl-data/{STACK}", "maxz": SECTIONS - 1, "dest": dest,
              "stages": {"pyramid": {"block": [32, 32, 32], "chunk": [16, 16, 16], "raw": True}}}
    cloud.bucket().blob(f"uploads/{job_id}/job.json").upload_from_string(json.dumps(config))
    return open_storage(dest)


def outputs(cloud, store) -> dict[str, bytes]:
    prefix = store.url[len("gs://emctl-data/"):]
    return {b.name[len(prefix):]: b.download_as_bytes() for layer in ("image/", "image_raw/")
            for b in cloud.bucket().list_blobs(prefix=prefix + layer)}


@pytest.fixture(scope="module")
def reference(cloud):
    store = run_job(cloud, "undisturbed")
    assert wait_for(store, ("complete",)).state == "complete"
    starts, ends = plan.runs(cloud.faults, store.url)
    assert set(starts.values()) == {1} == set(ends.values())
    return outputs(cloud, store), set(starts)


def check(cloud, store, reference, fault: str, killed=()):
    """The fault fired; the job is complete, byte-identical, every task finished exactly once;
    only `killed` started twice."""
    status = wait_for(store, ("complete",))
    assert os.path.exists(os.path.join(cloud.faults, f"fired-{fault}")), "the fault was injected"
    assert status.state == "complete", status.to_json()
    want, tasks = reference
    got = outputs(cloud, store)
    assert sorted(got) == sorted(want) and all(got[k] == want[k] for k in want), "byte-identical outputs"
    starts, ends = plan.runs(cloud.faults, store.url)
    assert set(starts) == tasks and ends == {t: 1 for t in tasks}, "every task finished exactly once"
    assert {t: n for t, n in starts.items() if n > 1} == {t: 2 for t in killed}, "nothing else ran again"


def test_a_publish_failing_mid_fan_out(cloud, reference):
    """The third batch of the render wave fails to publish: the event is redelivered and the
    fan-out carries on from the batches recorded."""
    store = run_job(cloud, "publish-fails", publish_fail={"wave": "align.render", "call": 3})
    check(cloud, store, reference, "publish_fail")
    assert sorted(store.list(fanout_prefix("align.render", "0"))) == [fanout_key("align.render", "0", b) for b in range(6)]


def test_a_lost_wave_done(cloud, reference):
    """The worker that closes the render wave cannot publish wave_done: its delivery fails, the
    redelivered task finds the wave complete and sends wave_done again."""
    store = run_job(cloud, "wave-done-lost", lose_wave_done={"wave": "align.render"})
    check(cloud, store, reference, "lose_wave_done")


def test_an_orchestrator_killed_mid_request(cloud, reference):
    """The orchestrator's process dies (SIGKILL) in the middle of fanning out the render wave;
    gunicorn starts another, Pub/Sub redelivers the event, whose claim lets it carry on."""
    store = run_job(cloud, "orchestrator-killed", kill_orchestrator={"wave": "align.render", "call": 2})
    check(cloud, store, reference, "kill_orchestrator")


def test_a_worker_killed_mid_task(cloud, reference):
    """A pyramid worker dies (SIGKILL) at the start of block 1: only that task runs again."""
    store = run_job(cloud, "worker-killed", kill_worker={"wave": "pyramid.0", "task": 1})
    check(cloud, store, reference, "kill_worker", killed=[("pyramid.0", 1)])


def test_a_wave_done_dropped_for_good_stalls_until_the_sweep(cloud, reference):
    """The orchestrator acknowledges the render wave's wave_done without acting on it (as after
    its dead-lettering): nothing is redelivered, `emctl status` says stalled, and the sweep the
    deployment schedules re-drives the job."""
    store = run_job(cloud, "swept", drop_wave_done={"wave": "align.render"})
    # Settled once the render wave is done and the next one never starts (before the render wave
    # starts, the job is running with render itself pending: not yet the stall).
    status = wait_for(store, ("running",), timeout=120,
                      settled=lambda s: s.waves[0].state == "done" and s.waves[-1].state == "pending")
    assert [w.wave for w in status.waves][-2:] == ["align.render", "pyramid.0"]
    emctl = [sys.executable, "-m", "orchestrator.cli.main", "status", store.url]
    time.sleep(4)                     # nothing happens under the job's root: longer than --stall-after
    stalled = subprocess.run(emctl + ["--stall-after", "3"], capture_output=True, text=True, env=cloud.env)
    running = subprocess.run(emctl, capture_output=True, text=True, env=cloud.env)
    assert (running.returncode, stalled.returncode) == (0, 3), stalled.stdout + stalled.stderr
    assert "running" in running.stdout.splitlines()[0] and "stalled" in stalled.stdout.splitlines()[0]
    assert f"emctl resume {store.url}" in stalled.stdout
    from google.cloud import pubsub_v1
    publisher = pubsub_v1.PublisherClient()
    sweep = {"kind": "sweep", "bucket": "gs://emctl-data/", "stall_seconds": 3}
    publisher.publish(publisher.topic_path("emctl-test", cloud.names.events_topic), json.dumps(sweep).encode()).result()
    check(cloud, store, reference, "drop_wave_done")


def test_messages_are_type_checked_before_anything_runs(cloud):
    """A push whose message is not a well-formed task (a field of the wrong type, a wave name that
    would leave the job root) is refused with 400 and runs nothing."""
    import urllib.request
    good = {"job": "x", "root": "gs://emctl-data/jobs/x/", "stage": "pyramid", "wave": "0", "task": 0,
            "params": {}, "attempt": 1, "count": 1, "generation": "0123456789abcdef"}
    for bad in ({**good, "task": "0"}, {**good, "wave": "../../x"}, {**good, "params": []}, {**good, "count": 0},
                {**good, "root": "gs://emctl-data/jobs/x"}, {**good, "extra": 1}):
        envelope = {"subscription": "projects/emctl-test/subscriptions/s",
                    "message": {"data": base64.b64encode(json.dumps(bad).encode()).decode(), "messageId": "1"}}
        request = urllib.request.Request(cloud.servers["pyramid"].url, json.dumps(envelope).encode(),
                                         {"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=30)
        assert refused.value.code == 400
