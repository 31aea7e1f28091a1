"""Estimated I/O of one mesh block task, for `emctl plan` (no data is read but the layer's
`info`): what the task reports as `bytes_in` (stage.py), its labels with one voxel of overlap.
The merge wave's work grows with the objects found, which no plan knows: it is counted for its
storage operations only (docs/cloud.md)."""
from __future__ import annotations

import math

import numpy as np

from functions.mesh import geometry


def block_cost(job, seg, position) -> dict:
    """`seg`: the emcore.segmentation.Segmentation being meshed."""
    lo, hi = geometry.read_box(position, seg.size, job.stage("mesh")["block"])
    stored = seg.scale.chunk
    reads = math.prod(math.ceil((b - a) / c) for a, b, c in zip(lo, hi, stored))
    return {"bytes_in": math.prod(b - a for a, b in zip(lo, hi)) * np.dtype(seg.volume.data_type).itemsize,
            "reads": reads, "writes": 2}
