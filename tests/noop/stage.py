"""Two waves of `tasks` tasks each; a task only returns its parameters."""
from __future__ import annotations

from emcore.stage import Stage


class CountingStage(Stage):
    name = "noop"

    def waves(self, job, store):
        return ["a", "b"] if job.stage("noop") is not None else []

    def plan(self, job, wave, store):
        return [{"i": i} for i in range(job.stage("noop")["tasks"])]

    def run(self, ctx, params):
        # The job's own option, as the worker that ran the task read it.
        return {"i": params["i"], "salt": ctx.job.stage("noop")["salt"]}


STAGE = CountingStage()
