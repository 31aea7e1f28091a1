"""Estimated I/O of the cc tasks whose reads depend on the volume, for `emctl plan` (no data is
read; the other waves' estimates are beside their code, functions/cc/waves.py).

`bytes_in` is what the task itself reports: the descriptor's box for the blocks and remap waves,
the segmentation's block for the downsample waves. With a base segmentation (`baseseg`) a blocks
task reads the descriptor's box and the base's, both grown by a one-voxel halo
(relations.halo_box): the stored chunks of its neighbours that the halo reaches are read too.
The merge waves' work grows with the segments found, which no plan knows: they are counted for
their storage operations only.
"""
from __future__ import annotations

import math

import numpy as np

from functions.cc.descriptor import load
from functions.cc.layout import Layout
from functions.cc.relations import halo_box
from functions.cc.store import get_segments


def _chunks(lo, hi, chunk) -> int:
    """Stored chunks of a grid of `chunk` from the origin that the box [lo, hi) touches."""
    return math.prod(-(-b // c) - a // c for a, b, c in zip(lo, hi, chunk))


def _box(job, task) -> tuple[list[int], int]:
    """The task's extent and how many stored chunks it reads."""
    extent = [b - a for a, b in zip(task.lo, task.hi)]
    return extent, math.prod(math.ceil(e / c) for e, c in zip(extent, job.stage("cc")["chunk"]))


def block_cost(job, task, store) -> dict:
    d = load(store)
    if d.baseseg is None:
        extent, pieces = _box(job, task)
        read = math.prod(extent) * np.dtype(d.data_type).itemsize
        return {"bytes_in": read, "reads": pieces, "writes": 2}            # faces, statistics
    lo, hi, _ = halo_box(task.lo, task.hi, d.size)
    grown = math.prod(b - a for a, b in zip(lo, hi))
    read = grown * (np.dtype(d.data_type).itemsize + np.dtype(d.baseseg_data_type).itemsize)
    pieces = _chunks(lo, hi, job.stage("cc")["chunk"]) + _chunks(lo, hi, d.baseseg_chunk)
    return {"bytes_in": read, "reads": pieces, "writes": 2}


def remap_cost(job, task, store) -> dict:
    extent, pieces = _box(job, task)
    read = math.prod(extent) * np.dtype(load(store).data_type).itemsize
    scales = len(Layout(job, load(store)).multiscale.layouts[0].scales)
    return {"bytes_in": read, "reads": pieces + 3, "writes": scales}       # + mapping index, rows, count


def downsample_cost(job, task, store) -> dict:
    extent, pieces = _box(job, task)
    itemsize = np.dtype(get_segments(store)["data_type"]).itemsize
    return {"bytes_in": math.prod(extent) * itemsize, "reads": pieces, "writes": 1}
