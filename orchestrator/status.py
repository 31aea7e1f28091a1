"""What a job is doing, read from its root alone: waves, progress, failures, timing.

A job that is neither complete nor failed is *running* while something happens under its root,
and *stalled* once nothing has for `stall_seconds`: no task finished, no wave started, closed or
published a batch. That is longer than any task may run (its request timeout) plus the queue's
longest retry backoff, so a running job cannot look stalled; a stalled one needs `emctl resume`
(or the deployment's periodic sweep, which does the same).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

from emcore import registry
from emcore import failures, jobroot
from emcore.jobroot import JOB, done_key, marker_prefix, started_key, wave_id, wave_prefix
from emcore.storage import NotFound, Storage
from orchestrator.engine import read_job


@dataclass
class Failure:
    task: str
    error: str
    attempts: int


# Longer than a task's request timeout (600 s, infra/emctl_infra/profiles.py) plus Pub/Sub's
# longest retry backoff (600 s), with room to spare.
STALL_SECONDS = 1800.0


@dataclass
class WaveStatus:
    wave: str
    state: str                # pending, running, stalled, done, failed
    expected: int | None
    done: int
    failed: list[Failure] = field(default_factory=list)
    elapsed: float | None = None
    eta: float | None = None
    last_activity: float | None = None   # the newest object the wave's progress wrote


@dataclass
class JobStatus:
    job: str
    root: str
    state: str                # running, stalled, complete, failed
    waves: list[WaveStatus]
    elapsed: float | None
    notes: list[str] = field(default_factory=list)   # stages' own reports (align: poor pairs, flagged sections)
    idle: float | None = None                        # seconds since anything happened under the root

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def _time_of(store: Storage, key: str) -> float | None:
    try:
        return json.loads(store.read(key))["time"]
    except (NotFound, ValueError, KeyError):
        return None


def _failures(store: Storage, wid: str) -> list[Failure]:
    return [Failure(task=task, error=f.error, attempts=f.attempts)
            for task, f in failures.read_failures(store, wid).items()]


def _newest(store: Storage, prefix: str) -> tuple[int, float | None]:
    """(number of objects, newest modification time) under prefix."""
    count, newest = 0, None
    for _, modified in store.list_times(prefix):
        count += 1
        newest = modified if newest is None else max(newest, modified)
    return count, newest


def wave_status(store: Storage, wid: str, now: float) -> WaveStatus:
    """`last_activity` is the store's own modification time of the newest object the wave's
    progress wrote (claim, fan-out records, markers, closures): one clock for every writer."""
    started = _time_of(store, started_key(wid))
    failed = _failures(store, wid)
    if started is None:
        return WaveStatus(wid, "failed" if failed else "pending", None, 0, failed)
    expected = jobroot.read_plan(store, wid)["count"]
    _, newest_claim = _newest(store, wave_prefix(wid))     # the claim, fan-out records, group closures
    finished = _time_of(store, done_key(wid))
    if finished is not None:
        return WaveStatus(wid, "done", expected, expected, [], finished - started, last_activity=newest_claim)
    done, newest_marker = _newest(store, marker_prefix(wid))
    elapsed = now - started
    eta = elapsed / done * (expected - done - len(failed)) if done else None
    state = "failed" if failed and done + len(failed) >= expected else "running"
    last = max(t for t in (newest_claim, newest_marker) if t is not None)
    return WaveStatus(wid, state, expected, done, failed, elapsed, eta, last)


def job_status(store: Storage, stall_seconds: float = STALL_SECONDS, notes: bool = True) -> JobStatus:
    job = read_job(store)
    now = time.time()
    waves = []
    for stage, wave in registry.job_waves(job, store):
        ws = wave_status(store, wave_id(stage, wave), now)
        waves.append(ws)
        if ws.state == "pending":
            break  # later waves are planned from earlier outputs: nothing to say of them yet
    starts = [_time_of(store, started_key(w.wave)) for w in waves if w.state != "pending"]
    starts = [s for s in starts if s is not None]
    activity = [w.last_activity for w in waves if w.last_activity is not None]
    if not activity:  # submitted, but no wave ever started
        activity = [t for t in (_newest(store, JOB)[1],) if t is not None]
    idle = now - max(activity) if activity else None
    if any(w.state == "failed" for w in waves):
        state = "failed"
    elif waves and all(w.state == "done" for w in waves):
        state = "complete"
    elif idle is not None and idle > stall_seconds:
        # Nothing moved for longer than any task may take: no delivery is coming (a lost event,
        # a fan-out that died). The first unfinished wave is where `emctl resume` picks up.
        state = "stalled"
        current = next(w for w in waves if w.state in ("pending", "running"))
        current.state = "stalled"
    else:
        state = "running"
    ends = [_time_of(store, done_key(w.wave)) for w in waves if w.state == "done"]
    end = max(ends) if state == "complete" and ends else now
    return JobStatus(job.id, store.url, state, waves, (end - min(starts)) if starts else None,
                     stage_notes(job, store) if notes else [], idle)


def stage_notes(job, store: Storage) -> list[str]:
    """What each stage the job runs has to say about its results (`Stage.report`)."""
    return [line for name in registry.stage_names() if job.stage(name) is not None
            for line in registry.stage(name).report(job, store)]
