"""The task message and the keys of the job root: the contract between the orchestrator, the
queues and the stage functions, whatever backend carries them.

A message is small JSON (bulk data never travels in messages). Markers are create-only, grouped
`FANOUT` to a directory so that a finishing task lists one small page to see whether its group is
complete; groups close into level-1 groups and so on, which makes detecting the completion of an
N-task wave cost O(N) storage operations in total (see emcore/counting.py).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

FANOUT = 100
MAX_MESSAGE_BYTES = 10_000


@dataclass(frozen=True)
class TaskMessage:
    job: str          # job id, for logs
    root: str         # job root URL (the job's `dest`)
    stage: str
    wave: str
    task: int         # index in the wave's plan
    params: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1

    @property
    def wave_id(self) -> str:
        return wave_id(self.stage, self.wave)

    def to_bytes(self) -> bytes:
        data = json.dumps(asdict(self), separators=(",", ":"), sort_keys=True).encode()
        if len(data) > MAX_MESSAGE_BYTES:
            raise ValueError(f"task message for {self.wave_id}/{self.task} is {len(data)} bytes; "
                             f"messages carry parameters, not data (limit {MAX_MESSAGE_BYTES})")
        return data

    @classmethod
    def from_bytes(cls, data: bytes | str) -> "TaskMessage":
        try:
            obj = json.loads(data)
            return cls(**obj)
        except (json.JSONDecodeError, TypeError) as e:
            raise ValueError(f"not a task message: {e}") from None

    def retried(self) -> "TaskMessage":
        return TaskMessage(self.job, self.root, self.stage, self.wave, self.task, self.params, self.attempt + 1)


def wave_id(stage: str, wave: str) -> str:
    return f"{stage}.{wave}"


def split_wave_id(wid: str) -> tuple[str, str]:
    stage, _, wave = wid.partition(".")
    return stage, wave


JOB_KEY = "job.json"


def plan_key(wid: str) -> str:
    return f"plan/{wid}.json"


def started_key(wid: str) -> str:
    return f"waves/{wid}/started"


def done_key(wid: str) -> str:
    return f"waves/{wid}/done"


def marker_prefix(wid: str) -> str:
    return f"markers/{wid}/"


def marker_key(wid: str, task: int) -> str:
    return f"markers/{wid}/{task // FANOUT}/{task}.json"


def group_prefix(wid: str, level: int, parent: int) -> str:
    """Directory holding the closure objects of level-`level` groups whose parent is `parent`."""
    return f"waves/{wid}/groups/{level}/{parent}/"


def failed_prefix(wid: str) -> str:
    return f"failed/{wid}/"


def failed_key(wid: str, task: int) -> str:
    return f"failed/{wid}/{task}.json"


def task_from_key(key: str) -> int:
    """The task index of a marker or failure record key."""
    return int(key.rsplit("/", 1)[-1].split(".", 1)[0])


def dumps(obj: Any) -> bytes:
    """Deterministic JSON bytes: a retried task writes the same bytes again."""
    return (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode()
