"""Estimated I/O of one align task, for `emctl plan` (no data is read but one PNG header)."""
from __future__ import annotations

import functools

import numpy as np

from emcore import tiles
from emcore.storage import open_storage


def cost(job, wave: str, params: dict, store) -> dict:
    info = tiles.read_tiles_info(store) if wave == "render" else None
    if info is not None:
        width, height, _ = info["scales"][0]["size"]
        pixels = width * height * np.dtype(info["data_type"]).itemsize
        return {"bytes_in": pixels, "reads": 2, "writes": tiles.shards_per_section(info)}
    # Pairs and solve run before render has planned the tiles: the sections' own size.
    pixels = _section_bytes(job.source, job.section_name(job.z_range.start))
    if wave == "pairs":
        # Each section of the run read once, the `reach` after it once more, and each anchor partner.
        options = job.stage("align") or {}
        count = params.get("count", 1)
        reads = count + options.get("reach", 2) + count * len(options.get("anchors", []))
        return {"bytes_in": pixels * reads, "reads": reads, "writes": count}
    return {"bytes_in": 0, "reads": len(job.z_range), "writes": 1}


@functools.lru_cache(maxsize=8)
def _section_bytes(source: str, name: str) -> int:
    from emcore.images import read_png_header
    header = read_png_header(open_storage(source), name)
    return header.width * header.height * np.dtype(header.dtype).itemsize
