"""Two waves, `a` and `b`, of `tasks` tasks each; a task only returns its parameters."""
from __future__ import annotations

from dataclasses import dataclass

from emcore.stage import Stage, Wave


@dataclass(frozen=True)
class EchoTask:
    i: int


class Echo(Wave):
    Task = EchoTask

    def plan(self, job, store):
        return [EchoTask(i) for i in range(job.stage("noop")["tasks"])]

    def run(self, ctx, task):
        # The job's own option, as the worker that ran the task read it.
        return {"i": task.i, "salt": ctx.job.stage("noop")["salt"]}


class CountingStage(Stage):
    name = "noop"

    def waves(self, job, store):
        return ["a", "b"] if job.stage("noop") is not None else []

    def wave(self, name):
        if name not in ("a", "b"):
            raise ValueError(f"noop has no wave {name!r}")
        return Echo()


STAGE = CountingStage()
