"""The wave engine: plan a wave, fan it out, count its markers, advance, record failures.

Every function here is safe to call from several orchestrator invocations at once (Cloud Run may
run many, the local runner runs one): decisions are taken by create-only objects, and everything
else is idempotent. All state lives under the job root; nothing is kept between calls but caches of
immutable objects (plans). A call that finds work half done (a claimed wave whose fan-out did not
finish) carries it on (orchestrator/fanout.py), so a redelivered event re-drives whatever the
invocation before it left unfinished.
"""
from __future__ import annotations

import json
import time
import traceback as tb
from typing import Protocol

from emcore import registry
from emcore.job import Job, load_job
from emcore.protocol import (JOB_KEY, MAX_WAVE_TASKS, TaskMessage, done_key, dumps, failed_key, failed_prefix,
                             plan_key, started_key, wave_id)
from emcore import counting
from emcore.stage import TaskError
from emcore.storage import NotFound, Storage
from orchestrator.fanout import (Pending, Turn, batch_size, failed_tasks, messages_for, new_round, publish_round,
                                  read_plan)


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


def current_wave(job: Job, store: Storage) -> tuple[str, str] | None:
    """The first wave that is not done, or None when the job is complete."""
    for stage, wave in registry.job_waves(job, store):
        if not store.exists(done_key(wave_id(stage, wave))):
            return stage, wave
    return None


def start_wave(job: Job, store: Storage, stage: str, wave: str, queue: Queue, events: Events = Events(),
               turn: Turn | None = None) -> Pending | None:
    """Plan and claim the wave if nobody has, then publish what its first round has not yet
    published. Called again for a claimed wave (a redelivered event, a continuation), it carries
    on where the last invocation stopped."""
    turn = turn or Turn()
    wid = wave_id(stage, wave)
    if not store.exists(started_key(wid)):
        planner = registry.stage(stage).wave(wave)
        try:
            params = [planner.params(task) for task in planner.plan(job, store)]
        except TaskError as e:
            store.write(f"{failed_prefix(wid)}plan.json", dumps({"error": str(e), "traceback": None, "attempts": 1}))
            raise
        if len(params) > MAX_WAVE_TASKS:
            raise TaskError(f"wave {wid} would have {len(params)} tasks, more than {MAX_WAVE_TASKS}: "
                            "use larger blocks or chunks")
        # The plan is written before the wave is claimed: a claimed wave always has its plan.
        store.write(plan_key(wid), dumps({"stage": stage, "wave": wave, "count": len(params), "tasks": params}))
        if not store.create(started_key(wid), dumps({"time": time.time()})):
            return None  # another invocation won the wave; if it dies, its event's redelivery carries on
        events.wave_started(wid, len(params), 0)
    plan = read_plan(store, job, wid)
    pending = publish_round(job, store, plan, wid, "0", queue, turn)
    if pending is None and plan["count"] == 0:
        store.create(done_key(wid), dumps({"time": time.time()}))
        events.wave_done(wid)
        return advance(job, store, queue, events, turn)
    return pending


def advance(job: Job, store: Storage, queue: Queue, events: Events = Events(),
            turn: Turn | None = None) -> Pending | None:
    nxt = current_wave(job, store)
    return None if nxt is None else start_wave(job, store, *nxt, queue, events, turn)


def on_marker(job: Job, store: Storage, wid: str, task: int, queue: Queue, events: Events = Events(),
              turn: Turn | None = None) -> bool:
    """A task's marker exists: count it; if that completed the wave, start the next. Returns True
    if this call completed the wave."""
    count = read_plan(store, job, wid)["count"]
    if counting.record_done(store, wid, count, task, dumps({"time": time.time()})) is not counting.Count.CLOSED:
        return False
    events.wave_done(wid)
    advance(job, store, queue, events, turn)
    return True


def continue_round(job: Job, store: Storage, pending: Pending, queue: Queue, turn: Turn) -> Pending | None:
    """Carry on a round an earlier invocation left to this one (`Pending.event`)."""
    if store.exists(done_key(pending.wave)):
        return None
    plan = read_plan(store, job, pending.wave)
    return publish_round(job, store, plan, pending.wave, pending.round, queue, turn)


def record_failure(store: Storage, message: TaskMessage, error: str, trace: str | None) -> None:
    store.write(failed_key(message.wave_id, message.task),
                dumps({"error": error, "traceback": trace, "attempts": message.attempt,
                       "params": message.params, "time": time.time()}))


def describe_exception(exc: BaseException) -> tuple[str, str | None]:
    """A task error for users: bad input is its own message; anything else keeps its traceback."""
    if isinstance(exc, TaskError):
        return str(exc), None
    return f"{type(exc).__name__}: {exc}", "".join(tb.format_exception(exc))


def resume(job: Job, store: Storage, queue: Queue, events: Events = Events(), turn: Turn | None = None,
           round_id: str | None = None) -> Pending | None:
    """Continue a job after a crash, a stop or a stall: close what finished, then publish, in a
    new round, the tasks of the current wave that have neither a marker nor a failure record."""
    turn = turn or Turn()
    round_id = round_id or new_round()
    while True:
        nxt = current_wave(job, store)
        if nxt is None:
            return None
        wid = wave_id(*nxt)
        if not store.exists(started_key(wid)):
            return start_wave(job, store, *nxt, queue, events, turn)
        plan = read_plan(store, job, wid)
        finished, done = counting.reconcile(store, wid, plan["count"], dumps({"time": time.time()}))
        if done:
            events.wave_done(wid)
            continue
        events.wave_started(wid, plan["count"], len(finished))
        return publish_round(job, store, plan, wid, round_id, queue, turn)


def clear_failures(job: Job, store: Storage) -> tuple[str | None, list[int]]:
    """Forget the current wave's failure records so its failed tasks can run again; a failed plan
    is forgotten with them (it is planned again). Returns (wave id, failed tasks)."""
    nxt = current_wave(job, store)
    if nxt is None:
        return None, []
    wid = wave_id(*nxt)
    tasks = failed_tasks(store, wid)
    store.delete_all(failed_key(wid, t) for t in tasks)
    store.delete(f"{failed_prefix(wid)}plan.json")
    return wid, tasks


def retry(job: Job, store: Storage, queue: Queue, events: Events = Events()) -> list[int]:
    """Re-publish only the failed tasks of the current wave (tasks still in flight are left to
    their queue), and only then forget their failure records: if publishing fails, the records
    are still there to retry from. A wave whose plan failed is planned again."""
    nxt = current_wave(job, store)
    if nxt is None:
        return []
    wid = wave_id(*nxt)
    if not store.exists(started_key(wid)):
        _, tasks = clear_failures(job, store)
        advance(job, store, queue, events)
        return tasks
    tasks = failed_tasks(store, wid)
    plan = read_plan(store, job, wid)
    messages = messages_for(job, store, plan, tasks)
    for i in range(0, len(messages), batch_size()):
        queue.publish(messages[i:i + batch_size()])
    clear_failures(job, store)
    return tasks
