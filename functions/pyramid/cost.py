"""Estimated I/O of one pyramid block task, for `emctl plan` (no data is read)."""
from __future__ import annotations

import math

import numpy as np

from emcore import tiles


def block_cost(job, pyramid, level: int, lo: list[int], hi: list[int]) -> dict:
    """`pyramid`: the job's functions.pyramid.stage.Pyramid."""
    ms = pyramid.multiscale
    layout = ms.layouts[level]
    extent = [b - a for a, b in zip(lo, hi)]
    voxels = math.prod(extent)
    if layout.base is None and pyramid.volume is None:
        tile = tiles.tile_shape(ms.size[0], ms.size[1], job.stage("pyramid")["block"][:2])
        # A ranged read per section and row of tiles a piece covers; pieces are a tile wide.
        reads = extent[2] * math.ceil(extent[0] / tile[0]) * math.ceil(extent[1] / tile[1])
    else:
        # An existing volume's chunking is not read by a plan: counted as if it were ours.
        reads = math.prod(math.ceil(e / c) for e, c in zip(extent, ms.chunk))
    layers = 1 + pyramid.with_raw + pyramid.with_ome_zarr
    return {"bytes_in": voxels * np.dtype(pyramid.dtype).itemsize, "reads": reads,
            "writes": len(layout.scales) * layers}
