"""Running one task message: the code every entry point (local process, Cloud Run, Lambda) shares.

Delivery is at-least-once everywhere, so a task first checks its marker: if it exists the task is
already done and the delivery is acknowledged without work. Outputs are written before the marker,
so a marker always means "outputs complete"; a crash between the two only repeats the task, which
rewrites the same bytes.
"""
from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

from emcore.job import Job, generation_of
from emcore.jobroot import JOB, dumps, marker_key, read_job
from emcore.protocol import TaskMessage
from emcore.stage import Stage, TaskContext
from emcore.storage import Storage, open_storage


class StaleTask(Exception):
    """The message belongs to a job that is no longer at its root (another job replaced it)."""


def job_of(message: TaskMessage, store: Storage) -> Job:
    """The job the message belongs to, read for every delivery (one small read): a warm process
    keeps nothing of a root between tasks, so a new job at the same root is never run with the
    old one's options, and an old job's message still in flight is refused, not counted."""
    stored = read_job(store)
    if stored is None:
        raise RuntimeError(f"{store.url}{JOB} does not exist: the job was never started or its root was deleted")
    if generation_of(stored) != message.generation:
        raise StaleTask(f"{store.url}{JOB} now holds another job (generation {generation_of(stored)}; "
                        f"the message's is {message.generation})")
    # The stored config was validated (defaults filled in) before it was written.
    return Job(json.loads(stored))


def execute(message: TaskMessage, stage: Stage, store: Storage | None = None) -> dict[str, Any]:
    """Run the task unless its marker exists; returns the marker's content."""
    store = store or open_storage(message.root)
    job = job_of(message, store)
    key = marker_key(message.wave_id, message.task)
    if store.exists(key):
        return {"task": message.task, "duplicate": True}
    started, cpu = time.time(), time.process_time()
    ctx = TaskContext(job=job, store=store, stage=message.stage, wave=message.wave, task=message.task)
    wave = stage.wave(message.wave)
    summary = wave.run(ctx, wave.task(message.params))
    marker = {
        "task": message.task,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "started": round(started, 3),
        "seconds": round(time.time() - started, 3),
        # CPU of every thread of the process (TensorStore's too): what `emctl plan` estimates.
        "cpu_seconds": round(time.process_time() - cpu, 3),
        "attempt": message.attempt,
        "summary": summary,
    }
    store.create(key, dumps(marker))
    return marker
