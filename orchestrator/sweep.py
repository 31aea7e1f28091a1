"""Re-driving jobs that stopped: `emctl resume`, and the sweep the deployment runs periodically
(Cloud Scheduler publishes `{"kind": "sweep", "bucket": ...}` to the orchestrator's topic).

Redeliveries repair most faults (engine, trigger), but an event can be lost for good: dead-
lettered after its attempts, or never sent by a process that died. So every job is registered
in its bucket when its config arrives (`emctl/active/<digest of its root>`), and each sweep looks
at one page of the registered jobs:

* complete: its registration is removed;
* stalled (nothing written under its root for `stall_seconds`, orchestrator/status.py): re-driven
  by `engine.resume` in a round named after the sweep's time slot, so a redelivered sweep event
  does not publish the same tasks again;
* registered but never submitted, for as long: its config's listing is run again from the start;
* running or failed: left alone (a failed job waits for `emctl retry`).

A sweep event's work is bounded: JOBS_PER_SWEEP jobs, and the messages of its Turn; the rest is
handed on in further events.
"""
from __future__ import annotations

import hashlib
import json
import time

from emcore.jobroot import dumps
from emcore.storage import NotFound, bucket_url, is_local, open_storage
from orchestrator import engine
from orchestrator.fanout import Turn
from orchestrator.status import STALL_SECONDS, job_status

ACTIVE = "emctl/active/"
JOBS_PER_SWEEP = 50



def _entry(root: str) -> str:
    return ACTIVE + hashlib.sha256(root.encode()).hexdigest()[:24]


def register(root: str, inbox: str | None = None) -> None:
    """Make the job at `root` one the sweeps look after (`inbox`: where its config was uploaded).
    Local jobs have no sweep: `emctl start` resumes them."""
    if is_local(root):
        return
    root = open_storage(root).url
    open_storage(bucket_url(root)).write(_entry(root), dumps({"root": root, "inbox": inbox}))


def sweep(event: dict, queue_for, turn: Turn) -> str:
    """One sweep event: `queue_for(root)` gives the queue that serves a job."""
    registry = open_storage(event["bucket"])
    stall = float(event.get("stall_seconds", STALL_SECONDS))
    now = time.time()
    round_id = f"sweep{int(now // stall)}"
    page, token = registry.list_page(ACTIVE, event.get("token"), JOBS_PER_SWEEP)
    report = []
    for key, registered in page:
        try:
            entry = json.loads(registry.read(key))
        except NotFound:
            continue   # removed by a concurrent sweep
        report.append(_look_after(registry, key, entry, now - registered, stall, round_id, queue_for, turn))
    if token is not None:
        queue_for(event["bucket"]).publish_event({**event, "token": token})
    return "; ".join(report) or "no active jobs"


def _look_after(registry, key: str, entry: dict, age: float, stall: float, round_id: str, queue_for,
                turn: Turn) -> str:
    root = entry["root"]
    store = open_storage(root)
    queue = queue_for(root)
    try:
        status = job_status(store, stall, notes=False)
    except FileNotFoundError:
        if entry.get("inbox") and age > stall:
            return f"{root}: upload stalled: " + _relist(entry["inbox"], queue, turn)
        return f"{root}: not submitted yet"
    if status.state == "complete":
        registry.delete(key)
        return f"{root}: complete"
    if status.state != "stalled":
        return f"{root}: {status.state}"
    pending = engine.resume(engine.read_job(store), store, queue, turn=turn, round_id=round_id)
    if pending is not None:
        queue.publish_event(pending.event())
    return f"{root}: stalled for {status.idle:.0f} s, re-driven"


def _relist(inbox_url: str, queue, turn: Turn) -> str:
    from orchestrator import trigger   # trigger registers jobs here: imported late, not at load
    inbox = open_storage(inbox_url)
    job = trigger.read_config(inbox, report=False)
    if isinstance(job, str):
        return job
    register(job.dest, inbox.url)       # its age starts again: one re-listing per stall period
    return trigger.record_listed(job, inbox, open_storage(job.dest), None, queue, turn)
