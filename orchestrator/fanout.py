"""Publishing a wave's tasks so that no fault leaves part of a wave unpublished for good.

A wave is published in rounds: round "0" when it starts, another each time it is re-driven
(`emctl resume`, the periodic sweep). A round publishes its tasks in batches of BATCH and records
each batch it finished with a create-only object, `.emctl/waves/<wid>/fanout/<round>/<batch>`, only once
the queue accepted all of it. So an invocation that dies, times out or meets a failing publish
part-way leaves a record of exactly what went out. Before publishing a batch, an invocation
claims it with the id of the event it handles (`Turn.owner`): invocations racing on one wave
publish each batch once, and the redelivery of the event whose invocation died (the same id)
takes up its claimed, unrecorded batches. A batch whose publish failed part-way is published
again whole: a task published twice is harmless (its worker finds its marker, or counts the same
closure twice). A claimant whose event is never redelivered (dead-lettered) leaves its batch to
the sweep's next round.

A round skips the tasks already finished (one listing per group of FANOUT tasks) and those with a
failure record. Each invocation publishes at most its `Turn`'s messages and then hands the rest
on as a `Pending` continuation (the cloud orchestrator sends it to itself as an event), so no
single request grows with the wave: a 250,000-task wave is 50 requests of 5,000 messages.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from emcore import jobroot
from emcore.failures import failed_tasks
from emcore.job import Job
from emcore.jobroot import FANOUT, claim_key, fanout_key, fanout_prefix, marker_prefix, task_from_key
from emcore.protocol import TaskMessage
from emcore.storage import Storage

BATCH = 1000


def batch_size() -> int:
    """Tasks per recorded batch (EMCTL_PUBLISH_BATCH, default BATCH): smaller batches record
    progress more finely, at one claim and one record per batch."""
    return int(os.environ.get("EMCTL_PUBLISH_BATCH", BATCH))


@dataclass(frozen=True)
class Pending:
    """A round left unfinished by an invocation's turn: the next invocation continues it."""
    root: str
    wave: str        # wave id
    round: str

    def event(self) -> dict:
        return {"kind": "fan_out", "root": self.root, "wave": self.wave, "round": self.round}


class Turn:
    """One invocation's share of the work: who it is (`owner`: the id of the event it handles,
    which a redelivery of that event shares) and how many more messages it may publish (None: no
    limit, for local runs and the CLI)."""

    def __init__(self, messages: int | None = None, owner: str = "local"):
        self.left = messages
        self.owner = owner

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
        _plans[key] = jobroot.read_plan(store, wid)
    return _plans[key]


def messages_for(job: Job, store: Storage, plan: dict, tasks) -> list[TaskMessage]:
    return [TaskMessage(job.id, store.url, plan["stage"], plan["wave"], t, plan["tasks"][t], 1, plan["count"],
                        job.generation) for t in tasks]


def finished_among(store: Storage, wid: str, tasks: range) -> set[int]:
    """Which of a contiguous run of tasks have their marker: one listing per group."""
    finished = set()
    for group in range(tasks.start // FANOUT, (tasks.stop - 1) // FANOUT + 1):
        finished.update(task_from_key(k) for k in store.list(f"{marker_prefix(wid)}{group}/", page_size=FANOUT + 1))
    return finished


def publish_round(job: Job, store: Storage, plan: dict, wid: str, round_id: str, queue,
                  turn: Turn) -> Pending | None:
    """Publish the batches of `round_id` that have no record yet; None once this turn has
    nothing more to publish. Each batch is claimed first (create-only, the turn's owner as its
    content): a batch claimed by another event's invocation is left to it (if that invocation
    dies, its own event's redelivery, the same owner, takes the batch up again), so invocations
    that race on a wave publish each batch once."""
    count, size = plan["count"], batch_size()
    batches = -(-count // size)
    recorded = {int(k.rsplit("/", 1)[-1]) for k in store.list(fanout_prefix(wid, round_id))}
    if len(recorded) >= batches:
        return None
    failed = set(failed_tasks(store, wid))
    for batch in range(batches):
        if batch in recorded:
            continue
        if turn.exhausted:
            return Pending(store.url, wid, round_id)
        claim = claim_key(wid, round_id, batch)
        if not store.create(claim, turn.owner.encode()) and store.read(claim) != turn.owner.encode():
            continue
        tasks = range(batch * size, min(count, (batch + 1) * size))
        finished = finished_among(store, wid, tasks)
        todo = [t for t in tasks if t not in finished and t not in failed]
        if todo:
            queue.publish(messages_for(job, store, plan, todo))
        store.create(fanout_key(wid, round_id, batch))
        turn.spend(len(todo))
    return None
