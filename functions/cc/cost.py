"""Estimated I/O of one cc task, for `emctl plan` (no data is read).

`bytes_in` is what the task itself reports (stage.py): the descriptor's box for the chunks and
remap waves, the segmentation's block for the downsample waves. The merge waves' work grows with
the segments found, which no plan knows: they are counted for their storage operations only.
"""
from __future__ import annotations

import math

import numpy as np

from functions.cc.descriptor import load
from functions.cc.layout import CHUNKS, COMBINE, DOWNSAMPLE, FINALIZE, MERGE, REMAP, Layout, parse_wave
from functions.cc.store import get_segments


def cost(job, wave: str, params: dict, store) -> dict:
    kind, _ = parse_wave(wave)
    options = job.stage("cc")
    if kind in (CHUNKS, REMAP):
        extent = [b - a for a, b in zip(params["lo"], params["hi"])]
        pieces = math.prod(math.ceil(e / c) for e, c in zip(extent, options["chunk"]))
        read = math.prod(extent) * np.dtype(load(store).data_type).itemsize
        if kind == CHUNKS:
            return {"bytes_in": read, "reads": pieces, "writes": 2}        # faces, statistics
        scales = len(Layout(job, load(store)).multiscale.layouts[0].scales)
        return {"bytes_in": read, "reads": pieces + 3, "writes": scales}   # + mapping index, rows, count
    if kind == DOWNSAMPLE:
        extent = [b - a for a, b in zip(params["lo"], params["hi"])]
        itemsize = np.dtype(get_segments(store)["data_type"]).itemsize
        pieces = math.prod(math.ceil(e / c) for e, c in zip(extent, options["chunk"]))
        return {"bytes_in": math.prod(extent) * itemsize, "reads": pieces, "writes": 1}
    if kind == MERGE:
        first, end = params["chunks"]
        return {"bytes_in": 0, "reads": 2 * (end - first), "writes": 1}
    if kind in (COMBINE, FINALIZE):
        first, end = params["parts"]
        return {"bytes_in": 0, "reads": end - first, "writes": 1 if kind == COMBINE else 4}
    return {"bytes_in": 0, "reads": 0, "writes": 0}                        # tidy: deletes are free
