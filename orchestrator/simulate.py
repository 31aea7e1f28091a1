"""Run a job's orchestration without its science: every wave is planned by the real stages and
counted by the real engine on `mem://`, each task "finishes" by writing its marker as a worker
would. What it measures is exact for the orchestration (storage operations, messages per wave);
what the tasks themselves read, write and compute comes from each stage's `cost()` estimate.
Used by `emctl plan`, and by the test that orchestration cost grows linearly with the job."""
from __future__ import annotations

import collections
import uuid
from dataclasses import dataclass, field, replace

from emcore import registry
from emcore.job import Job
from emcore.jobroot import dumps, marker_key, read_job
from emcore.protocol import TaskMessage
from emcore.segmentation import OWN_SEGMENTATION
from emcore.storage import open_storage
from orchestrator import engine


@dataclass
class WaveReport:
    wave: str
    tasks: int = 0
    messages: int = 0
    orchestration_ops: collections.Counter = field(default_factory=collections.Counter)
    task_reads: int = 0
    task_writes: int = 0
    bytes_in: int = 0

    @property
    def storage_ops(self) -> int:
        return sum(self.orchestration_ops.values()) + self.task_reads + self.task_writes


class _CollectingQueue:
    def __init__(self):
        self.pending: list[TaskMessage] = []

    def publish(self, messages):
        self.pending.extend(messages)


def _own_segmentation_in_place(job: Job) -> Job:
    """A stage that reads the job's own segmentation while the stage that writes it is not in
    this job (a mesh job on an earlier cc job's dest) reads it where it lies: the throw-away root
    the plan runs on does not hold it. It is then not that root's own, so the plan writes nothing
    beside it."""
    stages = {name: options for name, options in job.config["stages"].items() if options is not None}
    for name, options in stages.items():
        if options.get("segmentation") == OWN_SEGMENTATION and not set(registry.spec(name).after) & set(stages):
            stages[name] = {**options, "segmentation": job.dest.rstrip("/") + "/segmentation/"}
    return replace(job, config={**job.config, "stages": {**job.config["stages"], **stages}})


def simulate(job: Job) -> list[WaveReport]:
    """Orchestrate `job` against a throw-away mem:// root; returns one report per wave."""
    root = f"mem://emctl-plan-{uuid.uuid4().hex}/"
    job = _own_segmentation_in_place(job)
    job = replace(job, config={**job.config, "dest": root})
    store = open_storage(root)
    engine.submit_job(store, job)
    queue = _CollectingQueue()
    reports: dict[str, WaveReport] = {}
    ops_before = collections.Counter(store.ops)
    engine.advance(job, store, queue)
    while queue.pending:
        batch, queue.pending = queue.pending, []
        wid = batch[0].wave_id
        report = reports.setdefault(wid, WaveReport(wid))
        # The planning and fan-out just done belong to this wave.
        report.orchestration_ops += collections.Counter(store.ops) - ops_before
        report.messages += len(batch)
        report.tasks += len(batch)
        wave = registry.stage(batch[0].stage).wave(batch[0].wave)
        for message in batch:
            cost = wave.cost(job, wave.task(message.params), store)
            report.task_reads += cost.get("reads", 0)
            report.task_writes += cost.get("writes", 0)
            report.bytes_in += cost.get("bytes_in", 0)
        # What the tasks would leave for later plans, outside the counts (their own writes are in cost()).
        wave.stand_in(job, store)
        ops_before = collections.Counter(store.ops)
        for message in batch:
            read_job(store)                                      # the worker's check of the job's generation
            store.exists(marker_key(wid, message.task))          # the worker's duplicate check
            store.create(marker_key(wid, message.task), dumps({"task": message.task}))
            engine.on_marker(job, store, wid, message.task, queue)
        # Counting, and the next wave's plan and claim (O(1) per wave), are booked to this wave.
        report.orchestration_ops += collections.Counter(store.ops) - ops_before
        report.messages += 1  # the wave_done event
        ops_before = collections.Counter(store.ops)
    return list(reports.values())
