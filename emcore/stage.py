"""What a stage is, seen from the orchestrator and the workers.

A stage is a sequence of waves (`Stage.waves`: their names, which may depend on what earlier
waves stored). Each wave is a typed object (`Wave`): how it cuts the job into independent tasks
(`plan`), how it does one (`run`: reads inputs from storage, writes outputs deterministically),
what one costs (`cost`, for `emctl plan`). A task's parameters are a dataclass (`Wave.Task`):
named fields, written to the wave's plan and carried by its messages as a JSON object, and turned
back into the dataclass, once, before the task runs. Nothing keeps state between calls:
everything lives under the job root.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

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


class Wave:
    """One wave of a stage. Subclasses set `Task` (a dataclass of the task's parameters) and
    define `plan` and `run`; `cost` and `stand_in` have defaults."""
    Task: ClassVar[type]

    def plan(self, job: Job, store: Storage) -> list[Any]:
        """The wave's tasks (`Task` instances); called once the waves before it are done. May
        write deterministic objects the tasks need (a volume's `info`), as a retry rewrites them."""
        raise NotImplementedError

    def run(self, ctx: TaskContext, task: Any) -> dict[str, Any]:
        """Do one task; return a small JSON summary (stored in the task's marker)."""
        raise NotImplementedError

    def cost(self, job: Job, task: Any, store: Storage) -> dict[str, int]:
        """For `emctl plan`: one task's estimated {"bytes_in", "reads", "writes"}, from the plan
        alone (no data is read); {} where the stage cannot tell."""
        return {}

    def stand_in(self, job: Job, store: Storage) -> None:
        """For `emctl plan`, which plans every wave without running any task: write what the
        wave's tasks would leave that a later wave's plan reads (align's transforms, cc's segment
        count, mesh's chunk indices), as placeholders that need no data."""

    def params(self, task: Any) -> dict[str, Any]:
        """The task as the JSON object of the plan and the message (optional fields left unset
        are left out)."""
        return {k: v for k, v in dataclasses.asdict(task).items() if v is not None}

    def task(self, params: dict[str, Any]) -> Any:
        """The task a plan's or a message's parameters describe; ValueError naming what is wrong."""
        try:
            return self.Task(**params)
        except TypeError as e:
            raise ValueError(f"parameters {sorted(params)} do not describe a {self.Task.__name__}: {e}") from None


class Stage:
    """A stage's behaviour; its static facts (where it runs, its order, its runtime) are its
    spec's (emcore/spec.py)."""
    name: str

    def waves(self, job: Job, store: Storage) -> list[str]:
        """The names of the stage's waves, in order; [] if the job does not run it. May read
        geometry that earlier stages stored (the pyramid's depth depends on the rendered
        volume's size): the orchestrator asks again each time it advances, when those objects
        exist."""
        raise NotImplementedError

    def wave(self, name: str) -> Wave:
        """The wave of that name (numbered waves, "pyramid.3", parse their number)."""
        raise NotImplementedError

    def report(self, job: Job, store: Storage) -> list[str]:
        """What `emctl status` says about the stage's results, one line each."""
        return []
