"""Why tasks failed: one record, kept in two places under the job's state.

    .emctl/errors/<wave id>/<task>.json   the last failing attempt's, written by the worker before
                                          it refuses the delivery (a temporary: the bucket's
                                          lifecycle rule removes one a later attempt made moot)
    .emctl/failed/<wave id>/<task>.json   the task's, once its attempts are spent (the dead
                                          letter): the job is then *failed*, and `emctl retry`
                                          runs it again
    .emctl/failed/<wave id>/plan.json     the wave's plan failed (bad input found while planning)

Both hold the same record, {"error", "traceback", "attempts", "params", "time"}: the error a user
can act on (a TaskError's message) has no traceback; anything else keeps it. Recording a task's
failure moves its attempt's record to failed/; retrying forgets both.
"""
from __future__ import annotations

import json
import time
import traceback as tb
from dataclasses import asdict, dataclass

from emcore.jobroot import STATE, dumps, task_from_key
from emcore.storage import NotFound, Storage

PLAN = "plan"


@dataclass(frozen=True)
class Failure:
    error: str
    traceback: str | None
    attempts: int
    params: dict | None = None
    time: float | None = None


def describe(exc: BaseException) -> tuple[str, str | None]:
    """(error, traceback) for users: bad input is its own message; anything else keeps its
    traceback."""
    from emcore.stage import TaskError
    if isinstance(exc, TaskError):
        return str(exc), None
    return f"{type(exc).__name__}: {exc}", "".join(tb.format_exception(exc))


def errors_key(wid: str, task: int) -> str:
    return f"{STATE}errors/{wid}/{task}.json"


def failed_prefix(wid: str) -> str:
    return f"{STATE}failed/{wid}/"


def failed_key(wid: str, task: int | str) -> str:
    return f"{failed_prefix(wid)}{task}.json"


def record_attempt(store: Storage, wid: str, task: int, attempt: int, exc: BaseException) -> str:
    """A failing attempt's record, for the dead-letter handler; returns the error."""
    error, trace = describe(exc)
    store.write(errors_key(wid, task), dumps(asdict(Failure(error, trace, attempt))), temporary=True)
    return error


def record_failure(store: Storage, wid: str, task: int, attempts: int, params: dict,
                   failure: tuple[str, str | None] | None = None) -> None:
    """The task failed for good: `failure` (error, traceback), else its last attempt's record."""
    if failure is None:
        try:
            last = json.loads(store.read(errors_key(wid, task)))
            failure = last["error"], last.get("traceback")
        except NotFound:
            failure = "the task never reported an error (worker killed or timed out?)", None
    store.write(failed_key(wid, task), dumps(asdict(Failure(*failure, attempts, params, time.time()))))
    store.delete(errors_key(wid, task))


def record_plan_failure(store: Storage, wid: str, error: str) -> None:
    store.write(failed_key(wid, PLAN), dumps(asdict(Failure(error, None, 1))))


def failed_tasks(store: Storage, wid: str) -> list[int]:
    """The wave's failed tasks (one listing: no record is read)."""
    return sorted(task_from_key(k) for k in store.list(failed_prefix(wid)) if not k.endswith(f"/{PLAN}.json"))


def read_failures(store: Storage, wid: str) -> dict[str, Failure]:
    """Every failure of the wave by task ("plan" for its plan)."""
    out = {}
    for key in store.list(failed_prefix(wid)):
        record = json.loads(store.read(key))
        out[key.rsplit("/", 1)[-1].removesuffix(".json")] = Failure(**record)
    return out


def forget(store: Storage, wid: str, tasks: list[int]) -> None:
    """Forget the tasks' failures, and the wave's failed plan, so they can run again."""
    store.delete_all([failed_key(wid, t) for t in tasks] + [errors_key(wid, t) for t in tasks])
    store.delete(failed_key(wid, PLAN))
