"""The local backend: the cloud's queue, worker and marker path, run by a pool of processes.

Publishing submits a message to the pool; a worker runs exactly what a Cloud Run function runs
(`emcore.worker.execute`); when it returns, its marker exists and this process does what the
orchestrator function does on a marker notification (`engine.on_marker`). A failing task is
redelivered with backoff up to the job's `attempts`, then recorded as failed (the dead letter).
"""
from __future__ import annotations

import heapq
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from emcore.job import Job
from emcore.protocol import TaskMessage
from emcore.storage import Storage
from orchestrator import engine

BACKOFF_SECONDS = 0.5


def run_message(data: bytes) -> tuple[str, object, str | None]:
    """Worker-process entry: ("ok", marker, None) or ("error", message, traceback)."""
    from emcore import failures, registry
    from emcore.worker import execute
    message = TaskMessage.from_bytes(data)
    try:
        return "ok", execute(message, registry.stage(message.stage)), None
    except Exception as exc:  # reported to the orchestrator, which decides on retry or dead letter
        error, trace = failures.describe(exc)
        return "error", error, trace


def _prepare_worker(workers: int) -> None:
    """Runs in each worker before numpy or OpenCV is imported. Freed arrays are kept for reuse
    (emcore/allocator.py). With a worker per core, OpenCV's and BLAS's own thread pools only
    oversubscribe the cores."""
    from emcore.allocator import keep_freed_memory
    keep_freed_memory()
    if workers >= (os.cpu_count() or 1):
        # OpenCV reads OPENCV_FOR_THREADS_NUM when it loads: importing it here instead would cost
        # every worker ~0.2 s, also those of stages that never use it.
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENCV_FOR_THREADS_NUM"):
            os.environ.setdefault(var, "1")


class InlineExecutor:
    """Runs each task when it is submitted, in this process: for tests and `mem://` jobs."""

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        future.set_result(fn(*args))
        return future

    def shutdown(self, wait=True, cancel_futures=False) -> None:
        pass


@dataclass
class WaveStats:
    tasks: int = 0
    started: float = 0.0
    finished: float = 0.0
    bytes_in: int = 0
    failed: int = 0


@dataclass
class LocalQueue:
    executor: object
    inflight: dict = field(default_factory=dict)

    def publish(self, messages: list[TaskMessage]) -> None:
        for m in messages:
            self.inflight[self.executor.submit(run_message, m.to_bytes())] = (m, self.executor)


class LocalRunner:
    def __init__(self, job: Job, store: Storage, workers: int | None = None, progress: engine.Progress | None = None):
        self.job, self.store = job, store
        self.workers = workers if workers is not None else (job.config["workers"] or os.cpu_count() or 1)
        self.progress = progress or engine.Progress()
        self.stats: dict[str, WaveStats] = {}

    def _executor(self):
        if self.workers == 0:
            return InlineExecutor()
        # spawn, not fork: the parent holds TensorStore and client threads that fork would copy.
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_prepare_worker, initargs=(self.workers,))

    def run(self, action: str = "resume") -> dict[str, WaveStats]:
        """`action`: "resume" (start or continue the job) or "retry" (its failed tasks only)."""
        queue = LocalQueue(self._executor())
        try:
            if action == "retry":
                # Locally nothing else can be in flight: after forgetting the failures, resuming
                # runs exactly the failed tasks (and any a crash left unfinished).
                engine.clear_failures(self.job, self.store)
            engine.resume(self.job, self.store, queue, self.progress)
            self._drain(queue)
        finally:
            queue.executor.shutdown(wait=True, cancel_futures=True)
        return self.stats

    def _drain(self, queue: LocalQueue) -> None:
        delayed: list[tuple[float, int, TaskMessage]] = []
        while queue.inflight or delayed:
            timeout = max(0.0, delayed[0][0] - time.time()) if delayed else None
            done, _ = wait(list(queue.inflight), timeout=timeout, return_when=FIRST_COMPLETED) if queue.inflight else (set(), None)
            for future in done:
                message, executor = queue.inflight.pop(future)
                try:
                    status, result, trace = future.result()
                except BrokenProcessPool:
                    # A worker died (killed, out of memory): the pool is unusable; its tasks are
                    # redelivered to a new one like any failed delivery.
                    if executor is queue.executor:
                        queue.executor = self._executor()
                    status, result, trace = "error", "worker process died", None
                if status == "ok":
                    self._count(message, result)
                    self.progress.task_done(message.wave_id)
                    engine.on_marker(self.job, self.store, message.wave_id, message.task, queue, self.progress)
                elif message.attempt < self.job.config["attempts"]:
                    delay = BACKOFF_SECONDS * 2 ** (message.attempt - 1)
                    heapq.heappush(delayed, (time.time() + delay, id(message), message.retried()))
                else:
                    engine.record_failure(self.store, message, (str(result), trace))
                    self.stats.setdefault(message.wave_id, WaveStats()).failed += 1
            while delayed and delayed[0][0] <= time.time():
                queue.publish([heapq.heappop(delayed)[2]])

    def _count(self, message: TaskMessage, marker: dict) -> None:
        stats = self.stats.setdefault(message.wave_id, WaveStats())
        stats.tasks += 1
        stats.bytes_in += int((marker.get("summary") or {}).get("bytes_in", 0))
