"""The job root's own state, apart from its outputs: every key under `<dest>/.emctl/`, and the
one writer and reader of each document there. Outputs (`image/`, `segmentation/`, tables,
reports) and stage intermediates live beside it, so a user may keep their `job.json` in the
dest folder itself.

    .emctl/job.json                        the validated config, as run (its digest: the generation)
    .emctl/plan/<wave id>.json             a wave's tasks, written before the wave is claimed
    .emctl/waves/<wave id>/started|done    the wave's claim and its closure (create-only)
    .emctl/waves/<wave id>/claims/<round>/<batch>, fanout/<round>/<batch>   publishing (fanout.py)
    .emctl/waves/<wave id>/groups/<level>/<parent>/<group>                   counting (counting.py)
    .emctl/markers/<wave id>/<task // FANOUT>/<task>.json                    a finished task
    .emctl/failed/, .emctl/errors/         failure records (emcore/failures.py)

Markers are create-only, grouped FANOUT to a directory so that a finishing task lists one small
page to see whether its group is complete; groups close into level-1 groups and so on, which makes
detecting the completion of an N-task wave cost O(N) storage operations in total (counting.py).
"""
from __future__ import annotations

import json
from typing import Any

from emcore.storage import NotFound, Storage

STATE = ".emctl/"
JOB = f"{STATE}job.json"
FANOUT = 100


def dumps(obj: Any) -> bytes:
    """Deterministic JSON bytes: a retried task writes the same bytes again."""
    return (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode()


def wave_id(stage: str, wave: str) -> str:
    return f"{stage}.{wave}"


# -- the job ------------------------------------------------------------------------------------

def create_job(store: Storage, data: bytes) -> bool:
    """Store the job's config, create-only: False if the root already holds one."""
    return store.create(JOB, data)


def read_job(store: Storage) -> bytes | None:
    """The stored config's bytes (what its generation digests), or None if there is none."""
    try:
        return store.read(JOB)
    except NotFound:
        return None


def stage_options(store: Storage, stage: str) -> dict | None:
    """One stage's options as the stored job has them (None: no job, or it does not run it)."""
    data = read_job(store)
    return None if data is None else json.loads(data)["stages"].get(stage)


# -- plans --------------------------------------------------------------------------------------

def plan_key(wid: str) -> str:
    return f"{STATE}plan/{wid}.json"


def write_plan(store: Storage, stage: str, wave: str, tasks: list[dict]) -> None:
    store.write(plan_key(wave_id(stage, wave)), dumps({"stage": stage, "wave": wave, "count": len(tasks),
                                                        "tasks": tasks}))


def read_plan(store: Storage, wid: str) -> dict:
    """{"stage", "wave", "count", "tasks"}; NotFound before the wave was planned."""
    return json.loads(store.read(plan_key(wid)))


def plan_prefix(stage: str) -> str:
    """Where the plans of a stage's waves are."""
    return f"{STATE}plan/{stage}."


# -- a wave's progress --------------------------------------------------------------------------

def wave_prefix(wid: str) -> str:
    """Everything the wave's progress writes but markers: claim, publishing records, closures."""
    return f"{STATE}waves/{wid}/"


def started_key(wid: str) -> str:
    return f"{wave_prefix(wid)}started"


def done_key(wid: str) -> str:
    return f"{wave_prefix(wid)}done"


def fanout_prefix(wid: str, round_id: str) -> str:
    """Records of the batches of a wave's publishing round that the queue accepted (orchestrator/fanout.py)."""
    return f"{wave_prefix(wid)}fanout/{round_id}/"


def fanout_key(wid: str, round_id: str, batch: int) -> str:
    return f"{fanout_prefix(wid, round_id)}{batch}"


def claim_key(wid: str, round_id: str, batch: int) -> str:
    """Who publishes a batch of a round: the id of the event whose invocation claimed it."""
    return f"{wave_prefix(wid)}claims/{round_id}/{batch}"


def group_prefix(wid: str, level: int, parent: int) -> str:
    """Directory holding the closure objects of level-`level` groups whose parent is `parent`."""
    return f"{wave_prefix(wid)}groups/{level}/{parent}/"


# -- markers ------------------------------------------------------------------------------------

MARKERS = f"{STATE}markers/"


def marker_prefix(wid: str) -> str:
    return f"{MARKERS}{wid}/"


def marker_key(wid: str, task: int) -> str:
    return f"{marker_prefix(wid)}{task // FANOUT}/{task}.json"


def wave_of_marker(key: str) -> str:
    """The wave id of a marker's key."""
    return key[len(MARKERS):].split("/", 1)[0]


def task_from_key(key: str) -> int:
    """The task index of a marker or failure record key."""
    return int(key.rsplit("/", 1)[-1].split(".", 1)[0])
