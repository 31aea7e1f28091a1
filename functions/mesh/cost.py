"""Estimated I/O of one mesh task, for `emctl plan` (no data is read but the layer's `info`).

A chunk task's `bytes_in` is what it reports (stage.py): its labels with one voxel of overlap.
The merge wave's work grows with the objects found, which no plan knows: it is counted for its
storage operations only (docs/cloud.md).
"""
from __future__ import annotations

import math

import numpy as np

from functions.mesh import geometry
from functions.mesh.source import open_segmentation


def cost(job, wave: str, params: dict, store) -> dict:
    if wave != "chunks":
        return {"bytes_in": 0, "reads": 1, "writes": 1 if wave == "merge" else 0}
    seg = open_segmentation(job)
    lo, hi = geometry.read_box(params["chunk"], seg.size, job.stage("mesh")["chunk"])
    chunk = seg.scale["chunk_sizes"][0]
    reads = math.prod(math.ceil((b - a) / c) for a, b, c in zip(lo, hi, chunk))
    return {"bytes_in": math.prod(b - a for a, b in zip(lo, hi)) * np.dtype(seg.info["data_type"]).itemsize,
            "reads": reads, "writes": 2}
