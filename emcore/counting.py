"""Hierarchical completion counting: is an N-task wave done, in O(N) storage operations in total.

Task markers sit FANOUT to a directory (level-0 groups). When a task's marker is written, whoever
handles that event lists the task's group: one page, at most FANOUT keys. The handler that sees
the group full creates the group's closure object in the level-1 directory (create-only: several
handlers that see it full write it once) and then lists that directory; and so on up the levels
until a single group spans the wave, whose closure is the wave's `done`.

Cost: every marker event lists one page (N lists); each closed group adds one create and one list
at the next level (N/FANOUT, N/FANOUT^2, ...). Total below N * (1 + 2/(FANOUT-1)) lists and creates,
beyond the tasks' own marker writes. A handler lists only after its own marker exists, and listings
are strongly consistent, so the last marker's handler always sees its group complete.
"""
from __future__ import annotations

import enum

from emcore.jobroot import FANOUT, done_key, group_prefix, marker_prefix, task_from_key
from emcore.storage import Storage


def levels(count: int) -> int:
    """Number of grouping levels: the smallest L with FANOUT**L >= count (at least 1)."""
    level, span = 1, FANOUT
    while span < count:
        level, span = level + 1, span * FANOUT
    return level


def members(count: int, level: int, group: int) -> int:
    """How many children the `group`-th group of `level` has (level 0 groups hold tasks)."""
    child_span = FANOUT ** level
    first = group * FANOUT * child_span
    last = min(count, first + FANOUT * child_span)
    return -(-(last - first) // child_span)


def _child_dir(wid: str, level: int, group: int) -> str:
    return f"{marker_prefix(wid)}{group}/" if level == 0 else group_prefix(wid, level, group)


class Count(enum.Enum):
    OPEN = "open"        # tasks remain
    CLOSED = "closed"    # this call completed the wave
    DONE = "done"        # the wave was complete already (this is a redelivery, or lost a race)

    @property
    def complete(self) -> bool:
        return self is not Count.OPEN


def record_done(store: Storage, wid: str, count: int, task: int, done_payload: bytes = b"") -> Count:
    """Called once a task's marker exists: CLOSED when this call completed the wave.

    A closure that exists already does not stop the climb unless the wave is done: it may have
    been created by a handler that died before finishing the climb, or before telling anyone the
    wave was done. So a redelivered task re-checks the levels above it and ends DONE, and its
    handler can send the lost `wave_done` again. Only handlers that found their group full climb:
    the last of each group, and redeliveries."""
    top = levels(count)
    index = task
    for level in range(top):
        group = index // FANOUT
        present = sum(1 for _ in store.list(_child_dir(wid, level, group), page_size=FANOUT + 1))
        if present < members(count, level, group):
            return Count.OPEN
        if level == top - 1:
            return Count.CLOSED if store.create(done_key(wid), done_payload) else Count.DONE
        if not store.create(f"{group_prefix(wid, level + 1, group // FANOUT)}{group}", b"") \
                and store.exists(done_key(wid)):
            return Count.DONE
        index = group
    return Count.OPEN


def reconcile(store: Storage, wid: str, count: int, done_payload: bytes = b"") -> tuple[set[int], bool]:
    """After a crash: the finished tasks of a wave, closing any group whose closure was lost.
    Returns (finished task indices, wave done)."""
    finished = {task_from_key(k) for k in store.list(marker_prefix(wid))}
    done = False
    first_of_group = {}
    for t in sorted(finished, reverse=True):
        first_of_group[t // FANOUT] = t
    # Re-running the closure from one finished task per level-0 group climbs every level.
    for task in first_of_group.values():
        done = record_done(store, wid, count, task, done_payload).complete or done
    return finished, done or store.exists(done_key(wid))
