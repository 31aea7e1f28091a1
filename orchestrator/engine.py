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
from typing import Protocol

from emcore import counting, failures, jobroot, registry
from emcore.job import Job, load_job
from emcore.jobroot import JOB, done_key, dumps, started_key, wave_id
from emcore.protocol import MAX_WAVE_TASKS, TaskMessage
from emcore.stage import TaskError
from emcore.storage import Storage
from orchestrator.fanout import Pending, Turn, batch_size, messages_for, new_round, publish_round, read_plan


class Queue(Protocol):
    def publish(self, messages: list[TaskMessage]) -> None: ...


class Progress:
    """Hooks for progress displays; the default does nothing. (Not the cloud's `events`: those are
    the messages to the orchestrator.)"""

    def wave_started(self, wid: str, count: int, finished: int) -> None: ...

    def task_done(self, wid: str) -> None: ...

    def wave_done(self, wid: str) -> None: ...


class JobConflict(RuntimeError):
    pass


def submit_job(store: Storage, job: Job) -> bool:
    """Store the validated config at the job root. Returns False if the same job was already
    there (a resume); a different job at the same root is refused rather than mixed with it."""
    if jobroot.create_job(store, job.to_json().encode()):
        return True
    problem = conflict(store, job)
    if problem:
        raise JobConflict(problem)
    return False


def conflict(store: Storage, job: Job) -> str | None:
    """Why the job root holds a different job than `job` (the keys that differ); None if it holds
    this job or none."""
    existing = jobroot.read_job(store)
    if existing is None:
        return None
    data = job.to_json().encode()
    if existing == data:
        return None
    differing = ", ".join(_differences(json.loads(existing), json.loads(data))[:3])
    return (f"{store.url}{JOB} holds a different job (differing: {differing}); "
            f"use another dest, or delete the old job first")


def _differences(old, new, path: str = "") -> list[str]:
    """Key paths whose values differ between two job documents."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for key in sorted(set(old) | set(new), key=str)
                for d in _differences(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))]
    return [] if old == new else [path or "(the whole document)"]


def read_job(store: Storage) -> Job:
    stored = jobroot.read_job(store)
    if stored is None:
        raise FileNotFoundError(f"no job at {store.url} ({JOB} does not exist)")
    return load_job(json.loads(stored))


def current_wave(job: Job, store: Storage) -> tuple[str, str] | None:
    """The first wave that is not done, or None when the job is complete."""
    for stage, wave in registry.job_waves(job, store):
        if not store.exists(done_key(wave_id(stage, wave))):
            return stage, wave
    return None


def start_wave(job: Job, store: Storage, stage: str, wave: str, queue: Queue, progress: Progress = Progress(),
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
            failures.record_plan_failure(store, wid, str(e))
            raise
        if len(params) > MAX_WAVE_TASKS:
            raise TaskError(f"wave {wid} would have {len(params)} tasks, more than {MAX_WAVE_TASKS}: "
                            "use larger blocks or chunks")
        # The plan is written before the wave is claimed: a claimed wave always has its plan.
        jobroot.write_plan(store, stage, wave, params)
        if not store.create(started_key(wid), dumps({"time": time.time()})):
            return None  # another invocation won the wave; if it dies, its event's redelivery carries on
        progress.wave_started(wid, len(params), 0)
    plan = read_plan(store, job, wid)
    pending = publish_round(job, store, plan, wid, "0", queue, turn)
    if pending is None and plan["count"] == 0:
        store.create(done_key(wid), dumps({"time": time.time()}))
        progress.wave_done(wid)
        return advance(job, store, queue, progress, turn)
    return pending


def advance(job: Job, store: Storage, queue: Queue, progress: Progress = Progress(),
            turn: Turn | None = None) -> Pending | None:
    nxt = current_wave(job, store)
    return None if nxt is None else start_wave(job, store, *nxt, queue, progress, turn)


def on_marker(job: Job, store: Storage, wid: str, task: int, queue: Queue, progress: Progress = Progress(),
              turn: Turn | None = None) -> bool:
    """A task's marker exists: count it; if that completed the wave, start the next. Returns True
    if this call completed the wave."""
    count = read_plan(store, job, wid)["count"]
    if counting.record_done(store, wid, count, task, dumps({"time": time.time()})) is not counting.Count.CLOSED:
        return False
    progress.wave_done(wid)
    advance(job, store, queue, progress, turn)
    return True


def continue_round(job: Job, store: Storage, pending: Pending, queue: Queue, turn: Turn) -> Pending | None:
    """Carry on a round an earlier invocation left to this one (`Pending.event`)."""
    if store.exists(done_key(pending.wave)):
        return None
    plan = read_plan(store, job, pending.wave)
    return publish_round(job, store, plan, pending.wave, pending.round, queue, turn)


def record_failure(store: Storage, message: TaskMessage, failure: tuple[str, str | None] | None = None) -> None:
    """The message's attempts are spent (its dead letter): its task failed, with `failure`
    (error, traceback), else what its last attempt recorded."""
    failures.record_failure(store, message.wave_id, message.task, message.attempt, message.params, failure)


def resume(job: Job, store: Storage, queue: Queue, progress: Progress = Progress(), turn: Turn | None = None,
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
            return start_wave(job, store, *nxt, queue, progress, turn)
        plan = read_plan(store, job, wid)
        finished, done = counting.reconcile(store, wid, plan["count"], dumps({"time": time.time()}))
        if done:
            progress.wave_done(wid)
            continue
        progress.wave_started(wid, plan["count"], len(finished))
        return publish_round(job, store, plan, wid, round_id, queue, turn)


def clear_failures(job: Job, store: Storage) -> tuple[str | None, list[int]]:
    """Forget the current wave's failure records so its failed tasks can run again; a failed plan
    is forgotten with them (it is planned again). Returns (wave id, failed tasks)."""
    nxt = current_wave(job, store)
    if nxt is None:
        return None, []
    wid = wave_id(*nxt)
    tasks = failures.failed_tasks(store, wid)
    failures.forget(store, wid, tasks)
    return wid, tasks


def retry(job: Job, store: Storage, queue: Queue, progress: Progress = Progress()) -> list[int]:
    """Re-publish only the failed tasks of the current wave (tasks still in flight are left to
    their queue), and only then forget their failure records: if publishing fails, the records
    are still there to retry from. A wave whose plan failed is planned again."""
    nxt = current_wave(job, store)
    if nxt is None:
        return []
    wid = wave_id(*nxt)
    if not store.exists(started_key(wid)):
        _, tasks = clear_failures(job, store)
        advance(job, store, queue, progress)
        return tasks
    tasks = failures.failed_tasks(store, wid)
    plan = read_plan(store, job, wid)
    messages = messages_for(job, store, plan, tasks)
    for i in range(0, len(messages), batch_size()):
        queue.publish(messages[i:i + batch_size()])
    clear_failures(job, store)
    return tasks
