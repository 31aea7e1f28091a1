"""Estimated I/O of one pyramid task, for `emctl plan` (no data is read)."""
from __future__ import annotations

import math

import numpy as np

from emcore import tiles


def cost(job, wave: str, params: dict, store) -> dict:
    from functions.pyramid.stage import TIDY, Pyramid
    if wave == TIDY:
        return {"bytes_in": 0, "reads": 1, "writes": 0}   # deletes are free operations on GCS and S3
    pyramid = Pyramid(job, store)
    ms = pyramid.multiscale
    layout = ms.layouts[int(wave)]
    extent = [b - a for a, b in zip(params["lo"], params["hi"])]
    voxels = math.prod(extent)
    if layout.base is None:
        tile = tiles.tile_shape(ms.size[0], ms.size[1], job.stage("pyramid")["block"][:2])
        # A ranged read per section and row of tiles a piece covers; pieces are a tile wide.
        reads = extent[2] * math.ceil(extent[0] / tile[0]) * math.ceil(extent[1] / tile[1])
    else:
        reads = math.prod(math.ceil(e / c) for e, c in zip(extent, ms.chunk))
    layers = 2 if pyramid.with_raw else 1
    return {"bytes_in": voxels * np.dtype(pyramid.dtype).itemsize, "reads": reads,
            "writes": len(layout.scales) * layers}
