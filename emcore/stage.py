"""What a stage is, seen from the orchestrator and the workers.

A stage splits its work (`waves`, `plan`: how to cut the job into independent tasks) apart from
doing one piece (`run`: a function of the task's JSON parameters that reads inputs from storage and
writes outputs deterministically). Neither keeps state between calls: everything lives under the
job root.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emcore.job import Job
from emcore.storage import Storage, open_storage


class TaskError(RuntimeError):
    """A task failed for a reason the user can act on (bad input, missing object).

    The message names the object or field; it is what `emctl status` shows, without a traceback
    being needed to understand it.
    """


@dataclass
class TaskContext:
    job: Job
    store: Storage        # the job root
    stage: str
    wave: str
    task: int

    def source(self) -> Storage:
        if self.job.source is None:
            raise TaskError("job has no 'source'")
        return open_storage(self.job.source)


class Stage:
    """A stage's behaviour; its static facts (where it runs, its order, its runtime) are its
    spec's (emcore/spec.py). The optional hooks have defaults here, so the orchestrator calls
    them on every stage instead of probing for them."""
    name: str

    def waves(self, job: Job, store: Storage) -> list[str]:
        """The stage's waves, in order; [] if the job does not run it. May read geometry that
        earlier stages stored (the pyramid's depth depends on the rendered volume's size): the
        orchestrator asks again each time it advances, when those objects exist."""
        raise NotImplementedError

    def plan(self, job: Job, wave: str, store: Storage) -> list[dict[str, Any]]:
        """Task parameters of `wave`; called once its predecessors are done. May write
        deterministic objects the tasks need (a volume's `info`), as a retry rewrites them."""
        raise NotImplementedError

    def run(self, ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        """Do one task; return a small JSON summary (stored in the task's marker)."""
        raise NotImplementedError

    def cost(self, job: Job, wave: str, params: dict[str, Any], store: Storage) -> dict[str, int]:
        """For `emctl plan`: one task's estimated {"bytes_in", "reads", "writes"}, from the plan
        alone (no data is read); {} where the stage cannot tell."""
        return {}

    def stand_in(self, job: Job, wave: str, store: Storage) -> None:
        """For `emctl plan`, which plans every wave without running any task: write what the
        wave's tasks would leave that a later wave's plan reads (align's transforms, cc's segment
        count, mesh's chunk indices), as placeholders that need no data."""

    def report(self, job: Job, store: Storage) -> list[str]:
        """What `emctl status` says about the stage's results, one line each."""
        return []
