"""The task message: the contract between the orchestrator, the queues and the stage functions,
whatever backend carries them. A message is small JSON (bulk data never travels in messages);
what it refers to lives under the job root (emcore/jobroot.py).
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from emcore.jobroot import wave_id

MAX_MESSAGE_BYTES = 10_000
# No wave may have more tasks: its plan would outgrow what one orchestrator request reads and
# writes. 250,000 is several times the sections of the largest serial-section stacks to date.
MAX_WAVE_TASKS = 250_000


@dataclass(frozen=True)
class TaskMessage:
    job: str          # job id, for logs
    root: str         # job root URL (the job's `dest`)
    stage: str
    wave: str
    task: int         # index in the wave's plan
    params: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    # What a warm worker would otherwise cache per root: the wave's size (for counting) and the
    # digest of the job's job.json (`Job.generation`), which the worker checks against the root's
    # job.json on every delivery. A new job at the same root has another generation, so nothing
    # of an old job (its options, its counts, its messages still in flight) reaches the new one.
    count: int = 0
    generation: str = ""

    @property
    def wave_id(self) -> str:
        return wave_id(self.stage, self.wave)

    def to_bytes(self) -> bytes:
        check_message(asdict(self))
        data = json.dumps(asdict(self), separators=(",", ":"), sort_keys=True).encode()
        if len(data) > MAX_MESSAGE_BYTES:
            raise ValueError(f"task message for {self.wave_id}/{self.task} is {len(data)} bytes; "
                             f"messages carry parameters, not data (limit {MAX_MESSAGE_BYTES})")
        return data

    @classmethod
    def from_bytes(cls, data: bytes | str) -> "TaskMessage":
        if len(data) > MAX_MESSAGE_BYTES:
            raise ValueError(f"not a task message: {len(data)} bytes (limit {MAX_MESSAGE_BYTES})")
        try:
            obj = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"not a task message: {e}") from None
        return cls(**check_message(obj))

    def retried(self) -> "TaskMessage":
        return replace(self, attempt=self.attempt + 1)


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_GENERATION = re.compile(r"^[0-9a-f]{16}$")
_ROOT = re.compile(r"^(gs|s3|mem|file)://\S*/$")
_TYPES = {"job": str, "root": str, "stage": str, "wave": str, "task": int, "params": dict, "attempt": int,
          "count": int, "generation": str}


def check_message(obj: Any) -> dict:
    """The fields of a task message, each of its type and form, or ValueError naming the field.
    A message comes from a queue anyone with publish rights can write to: nothing in it is used
    before it passed here (and no key built from it can leave the job root: emcore.storage)."""
    if not isinstance(obj, dict):
        raise ValueError(f"not a task message: a JSON object is expected, got {type(obj).__name__}")
    unknown, missing = sorted(set(obj) - set(_TYPES)), sorted(set(_TYPES) - set(obj))
    if unknown or missing:
        raise ValueError(f"not a task message: unknown fields {unknown}, missing fields {missing}")
    for name, kind in _TYPES.items():
        value = obj[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"task message field {name!r} must be {kind.__name__}, got {type(value).__name__}")
    forms = {"job": _JOB_ID, "stage": _NAME, "wave": _NAME, "generation": _GENERATION, "root": _ROOT}
    for name, pattern in forms.items():
        if not pattern.match(obj[name]):
            raise ValueError(f"task message field {name!r} is malformed: {obj[name][:80]!r}")
    if not 1 <= obj["count"] <= MAX_WAVE_TASKS or not 0 <= obj["task"] < obj["count"]:
        raise ValueError(f"task message: task {obj['task']} of {obj['count']} is out of range")
    if obj["attempt"] < 1:
        raise ValueError(f"task message field 'attempt' must be at least 1, got {obj['attempt']}")
    return obj
