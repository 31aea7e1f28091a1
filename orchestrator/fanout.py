"""Publishing a wave's tasks so that no fault leaves part of a wave unpublished for good.

A wave is published in rounds: round "0" when it starts, another each time it is re-driven
(`emctl resume`, the periodic sweep). A round publishes its tasks in batches of BATCH and records
each batch it finished with a create-only object, `waves/<wid>/fanout/<round>/<batch>`, only once
the queue accepted all of it. So an invocation that dies, times out or meets a failing publish
part-way leaves a record of exactly what went out, and whoever handles the wave next (the
redelivered event, a continuation, a sweep) publishes the batches without a record, again if
needed: a task published twice is harmless (its worker finds its marker, or counts twice the same
closure).

A round skips the tasks already finished (one listing per group of FANOUT tasks) and those with a
failure record. Each invocation publishes at most its `Budget` of messages and then hands the
rest on as a `Pending` continuation (the cloud orchestrator sends it to itself as an event), so
no single request grows with the wave: a 250,000-task wave is 50 requests of 5,000 messages.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

from emcore.job import Job
from emcore.protocol import (FANOUT, TaskMessage, failed_prefix, fanout_key, fanout_prefix, marker_prefix,
                             plan_key, task_from_key)
from emcore.storage import Storage

BATCH = 1000


@dataclass(frozen=True)
class Pending:
    """A round left unfinished by an invocation's budget: the next invocation continues it."""
    root: str
    wave: str        # wave id
    round: str

    def event(self) -> dict:
        return {"kind": "fan_out", "root": self.root, "wave": self.wave, "round": self.round}


class Budget:
    """How many more messages this invocation may publish; None: no limit (local runs, the CLI)."""

    def __init__(self, messages: int | None = None):
        self.left = messages

    @property
    def exhausted(self) -> bool:
        return self.left is not None and self.left <= 0

    def spend(self, messages: int) -> None:
        if self.left is not None:
            self.left -= messages


def new_round(label: str = "r") -> str:
    """A round id no earlier round has: `label` and the time in milliseconds."""
    return f"{label}{int(time.time() * 1000)}"


_plans: dict[tuple[str, str, str], dict] = {}


def read_plan(store: Storage, job: Job, wid: str) -> dict:
    """Plans never change once written, so a process reads each at most once. Keyed by the job's
    generation too: a later job at the same root has plans of its own."""
    key = (store.url, job.generation, wid)
    if key not in _plans:
        _plans[key] = json.loads(store.read(plan_key(wid)))
    return _plans[key]


def messages_for(job: Job, store: Storage, plan: dict, tasks) -> list[TaskMessage]:
    return [TaskMessage(job.id, store.url, plan["stage"], plan["wave"], t, plan["tasks"][t], 1, plan["count"],
                        job.generation) for t in tasks]


def failed_tasks(store: Storage, wid: str) -> list[int]:
    return sorted(task_from_key(k) for k in store.list(failed_prefix(wid)) if not k.endswith("plan.json"))


def finished_among(store: Storage, wid: str, tasks: range) -> set[int]:
    """Which of a contiguous run of tasks have their marker: one listing per group."""
    finished = set()
    for group in range(tasks.start // FANOUT, (tasks.stop - 1) // FANOUT + 1):
        finished.update(task_from_key(k) for k in store.list(f"{marker_prefix(wid)}{group}/", page_size=FANOUT + 1))
    return finished


def publish_round(job: Job, store: Storage, plan: dict, wid: str, round_id: str, queue,
                  budget: Budget) -> Pending | None:
    """Publish the batches of `round_id` that have no record yet; None once all have one."""
    count = plan["count"]
    batches = -(-count // BATCH)
    recorded = {int(k.rsplit("/", 1)[-1]) for k in store.list(fanout_prefix(wid, round_id))}
    if len(recorded) >= batches:
        return None
    failed = set(failed_tasks(store, wid))
    for batch in range(batches):
        if batch in recorded:
            continue
        if budget.exhausted:
            return Pending(store.url, wid, round_id)
        tasks = range(batch * BATCH, min(count, (batch + 1) * BATCH))
        finished = finished_among(store, wid, tasks)
        todo = [t for t in tasks if t not in finished and t not in failed]
        if todo:
            queue.publish(messages_for(job, store, plan, todo))
        store.create(fanout_key(wid, round_id, batch))
        budget.spend(len(todo))
    return None
