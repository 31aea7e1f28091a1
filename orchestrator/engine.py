"""The wave engine: plan a wave, fan it out once, count its markers, advance, record failures.

Every function here is safe to call from several orchestrator invocations at once (Cloud Run may
run many, the local runner runs one): decisions are taken by create-only objects, and everything
else is idempotent. All state lives under the job root; nothing is kept between calls but caches of
immutable objects (plans).
"""
from __future__ import annotations

import json
import time
import traceback as tb
from typing import Protocol

from emcore.job import Job
from emcore.protocol import (JOB_KEY, TaskMessage, done_key, dumps, failed_key, failed_prefix,
                             plan_key, started_key, task_from_key, wave_id)
from emcore.stage import TaskError
from emcore.storage import NotFound, Storage
from emcore import counting
from orchestrator.registry import get_stage, job_waves, load_job

PUBLISH_BATCH = 1000


class Queue(Protocol):
    def publish(self, messages: list[TaskMessage]) -> None: ...


class Events:
    """Hooks for progress displays; the default does nothing."""

    def wave_started(self, wid: str, count: int, finished: int) -> None: ...

    def task_done(self, wid: str) -> None: ...

    def wave_done(self, wid: str) -> None: ...


class JobConflict(RuntimeError):
    pass


def submit_job(store: Storage, job: Job) -> bool:
    """Store the validated config at the job root. Returns False if the same job was already
    there (a resume); a different job at the same root is refused rather than mixed with it."""
    data = job.to_json().encode()
    if store.create(JOB_KEY, data):
        return True
    problem = conflict(store, job)
    if problem:
        raise JobConflict(problem)
    return False


def conflict(store: Storage, job: Job) -> str | None:
    """Why the job root holds a different job than `job` (the keys that differ); None if it holds
    this job or none."""
    try:
        existing = store.read(JOB_KEY)
    except NotFound:
        return None
    data = job.to_json().encode()
    if existing == data:
        return None
    differing = ", ".join(_differences(json.loads(existing), json.loads(data))[:3])
    return (f"{store.url}{JOB_KEY} holds a different job (differing: {differing}); "
            f"use another dest, or delete the old job first")


def _differences(old, new, path: str = "") -> list[str]:
    """Key paths whose values differ between two job documents."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for key in sorted(set(old) | set(new), key=str)
                for d in _differences(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))]
    return [] if old == new else [path or "(the whole document)"]


def read_job(store: Storage) -> Job:
    try:
        return load_job(json.loads(store.read(JOB_KEY)))
    except NotFound:
        raise FileNotFoundError(f"no job at {store.url} ({JOB_KEY} does not exist)") from None


_plans: dict[tuple[str, str], dict] = {}


def read_plan(store: Storage, wid: str) -> dict:
    """Plans never change once written, so each process reads a plan at most once."""
    key = (store.url, wid)
    if key not in _plans:
        _plans[key] = json.loads(store.read(plan_key(wid)))
    return _plans[key]


def messages_for(job: Job, store: Storage, plan: dict, tasks) -> list[TaskMessage]:
    return [TaskMessage(job.id, store.url, plan["stage"], plan["wave"], t, plan["tasks"][t]) for t in tasks]


def publish(queue: Queue, messages: list[TaskMessage]) -> None:
    for i in range(0, len(messages), PUBLISH_BATCH):
        queue.publish(messages[i:i + PUBLISH_BATCH])


def current_wave(job: Job, store: Storage) -> tuple[str, str] | None:
    """The first wave that is not done, or None when the job is complete."""
    for stage, wave in job_waves(job, store):
        if not store.exists(done_key(wave_id(stage, wave))):
            return stage, wave
    return None


def start_wave(job: Job, store: Storage, stage: str, wave: str, queue: Queue, events: Events = Events()) -> None:
    wid = wave_id(stage, wave)
    if store.exists(started_key(wid)):
        return
    try:
        params = get_stage(stage).plan(job, wave, store)
    except TaskError as e:
        store.write(f"{failed_prefix(wid)}plan.json", dumps({"error": str(e), "traceback": None, "attempts": 1}))
        raise
    plan = {"stage": stage, "wave": wave, "count": len(params), "tasks": params}
    # The plan is written before the wave is claimed: a claimed wave always has its plan.
    store.write(plan_key(wid), dumps(plan))
    if not store.create(started_key(wid), dumps({"time": time.time()})):
        return  # another invocation won the wave and fans it out
    events.wave_started(wid, len(params), 0)
    publish(queue, messages_for(job, store, plan, range(len(params))))
    if not params:
        store.create(done_key(wid), dumps({"time": time.time()}))
        events.wave_done(wid)
        advance(job, store, queue, events)


def advance(job: Job, store: Storage, queue: Queue, events: Events = Events()) -> None:
    nxt = current_wave(job, store)
    if nxt is not None:
        start_wave(job, store, *nxt, queue, events)


def on_marker(job: Job, store: Storage, wid: str, task: int, queue: Queue, events: Events = Events()) -> bool:
    """A task's marker exists: count it; if that completed the wave, start the next. Returns True
    if this call completed the wave."""
    count = read_plan(store, wid)["count"]
    if not counting.record_done(store, wid, count, task, dumps({"time": time.time()})):
        return False
    events.wave_done(wid)
    advance(job, store, queue, events)
    return True


def record_failure(store: Storage, message: TaskMessage, error: str, trace: str | None) -> None:
    store.write(failed_key(message.wave_id, message.task),
                dumps({"error": error, "traceback": trace, "attempts": message.attempt,
                       "params": message.params, "time": time.time()}))


def describe_exception(exc: BaseException) -> tuple[str, str | None]:
    """A task error for users: bad input is its own message; anything else keeps its traceback."""
    if isinstance(exc, TaskError):
        return str(exc), None
    return f"{type(exc).__name__}: {exc}", "".join(tb.format_exception(exc))


def failed_tasks(store: Storage, wid: str) -> list[int]:
    return sorted(task_from_key(k) for k in store.list(failed_prefix(wid)) if not k.endswith("plan.json"))


def resume(job: Job, store: Storage, queue: Queue, events: Events = Events()) -> None:
    """Continue a job after a crash or a stop: close what finished, re-publish only the tasks of
    the current wave that have neither a marker nor a failure record."""
    while True:
        nxt = current_wave(job, store)
        if nxt is None:
            return
        wid = wave_id(*nxt)
        if not store.exists(started_key(wid)):
            start_wave(job, store, *nxt, queue, events)
            return
        plan = read_plan(store, wid)
        finished, done = counting.reconcile(store, wid, plan["count"], dumps({"time": time.time()}))
        if done:
            events.wave_done(wid)
            continue
        failed = set(failed_tasks(store, wid))
        events.wave_started(wid, plan["count"], len(finished))
        todo = [t for t in range(plan["count"]) if t not in finished and t not in failed]
        publish(queue, messages_for(job, store, plan, todo))
        return


def clear_failures(job: Job, store: Storage) -> tuple[str | None, list[int]]:
    """Forget the current wave's failure records so its failed tasks can run again; a failed plan
    is forgotten with them (it is planned again). Returns (wave id, failed tasks)."""
    nxt = current_wave(job, store)
    if nxt is None:
        return None, []
    wid = wave_id(*nxt)
    tasks = failed_tasks(store, wid)
    for t in tasks:
        store.delete(failed_key(wid, t))
    store.delete(f"{failed_prefix(wid)}plan.json")
    return wid, tasks


def retry(job: Job, store: Storage, queue: Queue, events: Events = Events()) -> list[int]:
    """Re-publish only the failed tasks of the current wave (tasks still in flight are left to
    their queue). A wave whose plan failed is planned again."""
    wid, tasks = clear_failures(job, store)
    if wid is None:
        return []
    if not store.exists(started_key(wid)):
        advance(job, store, queue, events)
        return tasks
    plan = read_plan(store, wid)
    publish(queue, messages_for(job, store, plan, tasks))
    return tasks
