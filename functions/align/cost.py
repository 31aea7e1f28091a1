"""Estimated I/O of one align task, for `emctl plan` (no data is read)."""
from __future__ import annotations

import numpy as np

from emcore import tiles


def cost(job, wave: str, params: dict, store) -> dict:
    info = tiles.read_tiles_info(store)
    if info is None:
        return {}
    width, height, _ = info["scales"][0]["size"]
    tile = info["scales"][0]["chunk_sizes"][0]
    pixels = width * height * np.dtype(info["data_type"]).itemsize
    if wave == "render":
        return {"bytes_in": pixels, "reads": 2, "writes": -(-width // tile[0]) * -(-height // tile[1])}
    if wave == "pairs":
        partners = len(params.get("w", ()))
        return {"bytes_in": pixels * (1 + partners), "reads": 1 + partners, "writes": 1}
    return {"bytes_in": 0, "reads": len(job.z_range), "writes": 1}
