"""What a job is doing, read from its root alone: waves, progress, failures, timing."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

from emcore.protocol import done_key, failed_prefix, marker_prefix, plan_key, started_key, wave_id
from emcore.storage import NotFound, Storage
from orchestrator.engine import read_job
from orchestrator.registry import STAGE_PACKAGES, job_waves


@dataclass
class Failure:
    task: str
    error: str
    attempts: int


@dataclass
class WaveStatus:
    wave: str
    state: str                # pending, running, done, failed
    expected: int | None
    done: int
    failed: list[Failure] = field(default_factory=list)
    elapsed: float | None = None
    eta: float | None = None


@dataclass
class JobStatus:
    job: str
    root: str
    state: str                # running, complete, failed
    waves: list[WaveStatus]
    elapsed: float | None
    notes: list[str] = field(default_factory=list)   # stages' own reports (align: poor pairs, flagged sections)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def _time_of(store: Storage, key: str) -> float | None:
    try:
        return json.loads(store.read(key))["time"]
    except (NotFound, ValueError, KeyError):
        return None


def _failures(store: Storage, wid: str) -> list[Failure]:
    out = []
    for key in store.list(failed_prefix(wid)):
        record = json.loads(store.read(key))
        task = key.rsplit("/", 1)[-1].removesuffix(".json")
        out.append(Failure(task=task, error=record["error"], attempts=record.get("attempts", 1)))
    return out


def wave_status(store: Storage, wid: str, now: float) -> WaveStatus:
    started = _time_of(store, started_key(wid))
    failed = _failures(store, wid)
    if started is None:
        return WaveStatus(wid, "failed" if failed else "pending", None, 0, failed)
    expected = json.loads(store.read(plan_key(wid)))["count"]
    finished = _time_of(store, done_key(wid))
    if finished is not None:
        return WaveStatus(wid, "done", expected, expected, [], finished - started)
    done = sum(1 for _ in store.list(marker_prefix(wid)))
    elapsed = now - started
    eta = elapsed / done * (expected - done - len(failed)) if done else None
    state = "failed" if failed and done + len(failed) >= expected else "running"
    return WaveStatus(wid, state, expected, done, failed, elapsed, eta)


def job_status(store: Storage) -> JobStatus:
    job = read_job(store)
    now = time.time()
    waves = []
    for stage, wave in job_waves(job, store):
        ws = wave_status(store, wave_id(stage, wave), now)
        waves.append(ws)
        if ws.state == "pending":
            break  # later waves are planned from earlier outputs: nothing to say of them yet
    starts = [_time_of(store, started_key(w.wave)) for w in waves if w.state != "pending"]
    starts = [s for s in starts if s is not None]
    if any(w.state == "failed" for w in waves):
        state = "failed"
    elif waves and all(w.state == "done" for w in waves):
        state = "complete"
    else:
        state = "running"
    ends = [_time_of(store, done_key(w.wave)) for w in waves if w.state == "done"]
    end = max(ends) if state == "complete" and ends else now
    return JobStatus(job.id, store.url, state, waves, (end - min(starts)) if starts else None,
                     stage_notes(job, store))


def stage_notes(job, store: Storage) -> list[str]:
    """What each stage has to say about its results (`functions/<stage>/report.py`)."""
    import importlib
    import importlib.util
    notes = []
    for name, package in STAGE_PACKAGES.items():
        if job.stage(name) is None or importlib.util.find_spec(f"{package}.report") is None:
            continue
        notes += importlib.import_module(f"{package}.report").report(store)
    return notes
