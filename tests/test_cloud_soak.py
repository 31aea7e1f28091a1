"""The emulated Google Cloud (tests/cloud_gcp.py) under load and change: the engine's own test
stage (tests/noop/) served as a real function, so the orchestration is all that is
measured.

* Two jobs at one root, one after the other, on the same warm servers: the second runs with its
  own options and its own counts (a worker that cached the first job would show either).
* A soak: 2,200 tasks with 5 % of publishes failing (every publish call and event, in the
  orchestrator and the workers: tests/faults/plan.py) and the workers' processes killed at random
  moments. The job completes exactly once, no task runs after its marker exists, every extra run
  is one a kill interrupted, and its storage operations stay O(N).
"""
from __future__ import annotations

import json
import os
import random
import threading
import time

import psutil
import pytest

from emcore.jobroot import done_key, marker_prefix, started_key
from emcore.storage import open_storage
from tests.faults import plan
from tests.waiting import wait_for

pytestmark = pytest.mark.emulator

SOAK_TASKS = 1100             # per wave; two waves
OPS_PER_TASK = 7.0            # the bound the soak's storage operations are held to


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    import emulators
    from cloud_gcp import emulated_gcp
    faults = tmp_path_factory.mktemp("soak")
    env = {"EMCTL_FAULTS_DIR": str(faults), "EMCTL_PUBLISH_BATCH": "25", "EMCTL_MESSAGES_PER_EVENT": "200"}
    try:
        with emulated_gcp(faults=True, extra_stages=("noop",), extra_env=env) as c:
            c.faults = str(faults)
            yield c
    except emulators.EmulatorUnavailable as e:
        pytest.skip(str(e))


def start(cloud, upload: str, dest: str, tasks: int, salt: str):
    config = {"id": upload, "dest": dest, "stages": {"noop": {"tasks": tasks, "salt": salt}}}
    cloud.bucket().blob(f"uploads/{upload}/job.json").upload_from_string(json.dumps(config))
    return open_storage(dest)


def markers(store, wid):
    return [json.loads(store.read(k)) for k in store.list(marker_prefix(wid))]


def test_two_jobs_at_one_root_on_warm_workers_each_run_with_their_own_options(cloud, noop_stage):
    plan.arm(cloud.faults)
    dest = "gs://emctl-data/jobs/shared-root/"
    worker = psutil.Process(cloud.servers["noop"].proc.pid).children(recursive=True)
    first = start(cloud, "first", dest, 100, "first")
    assert wait_for(first, ("complete",)).state == "complete"
    for key in list(first.list()):                    # the user deletes the first job, as told to
        first.delete(key)
    second = start(cloud, "second", dest, 200, "second")
    assert wait_for(second, ("complete",)).state == "complete"
    assert psutil.Process(cloud.servers["noop"].proc.pid).children(recursive=True) == worker, "the same warm process"
    for wid in ("noop.a", "noop.b"):
        found = markers(second, wid)
        assert sorted(m["task"] for m in found) == list(range(200)), "its own count: 200, not 100"
        assert {m["summary"]["salt"] for m in found} == {"second"}, "its own options"


def test_a_soak_with_failing_publishes_and_killed_workers_completes_exactly_once(cloud, noop_stage):
    plan.arm(cloud.faults, publish_rate=0.05)
    ops_before = plan.operations(cloud.faults)
    dest = "gs://emctl-data/jobs/soak/"
    store = start(cloud, "soak", dest, SOAK_TASKS, "soak")
    killed, stop = [], threading.Event()

    def kill_workers():                                # SIGKILL a worker process now and then
        chance = random.Random(7)
        while not stop.wait(chance.uniform(1.0, 3.0)) and len(killed) < 5:
            for child in psutil.Process(cloud.servers["noop"].proc.pid).children(recursive=True):
                killed.append(child.pid)
                child.kill()
    killer = threading.Thread(target=kill_workers, daemon=True)
    started = time.monotonic()
    killer.start()
    try:
        status = wait_for(store, ("complete",), timeout=400)
    finally:
        stop.set()
        killer.join()
    seconds = time.monotonic() - started
    assert status.state == "complete"
    n = 2 * SOAK_TASKS
    for wid in ("noop.a", "noop.b"):
        assert store.exists(started_key(wid)) and store.exists(done_key(wid))
        assert sorted(m["task"] for m in markers(store, wid)) == list(range(SOAK_TASKS)), "one marker per task"
    finished = {(wid, m["task"]): m["started"] + m["seconds"] for wid in ("noop.a", "noop.b") for m in markers(store, wid)}
    log = plan.run_log(cloud.faults, store.url)
    starts = [(pid, wid, task, at) for event, pid, wid, task, at in log if event == "start"]
    ends = {(pid, wid, task) for event, pid, wid, task, _ in log if event == "end"}
    # A run that began after its task's marker existed would be a finished task done again.
    assert not [s for s in starts if s[3] > finished[(s[1], s[2])] + 0.5], "no finished task ran again"
    interrupted = [s for s in starts if (s[0], s[1], s[2]) not in ends]
    assert all(pid in killed for pid, *_ in interrupted), "every unfinished run was in a killed process"
    ops = plan.operations(cloud.faults) - ops_before
    failures = open(os.path.join(cloud.faults, "faults.log")).read().count("publish failed")
    print(f"\nsoak: {n} tasks in {seconds:.0f} s; {failures} publishes failed, {len(killed)} worker processes "
          f"killed, {len(interrupted)} runs interrupted, {len(starts) - n} extra runs; {ops} storage "
          f"operations, {ops / n:.2f} per task (bound {OPS_PER_TASK})")
    assert failures >= 3 and len(killed) >= 1, "the faults were injected"
    assert ops <= OPS_PER_TASK * n, "storage operations O(N)"
