"""Estimated I/O of one align task, for `emctl plan` (no data is read but one section header)."""
from __future__ import annotations

import functools

import numpy as np

from emcore import tiles
from emcore.storage import open_storage


def pairs_cost(job, count: int) -> dict:
    """Each section of the run read once, the `reach` after it once more, and each anchor partner."""
    pixels = _section_bytes(job.source, job.section_name(job.z_range.start), job.section_page(job.z_range.start))
    options = job.stage("align") or {}
    reads = count + options.get("reach", 2) + count * len(options.get("anchors", []))
    return {"bytes_in": pixels * reads, "reads": reads, "writes": count}


def solve_cost(job) -> dict:
    return {"bytes_in": 0, "reads": len(job.z_range), "writes": 1}


def render_cost(store, levels: bool) -> dict:
    """`levels`: the task also records the section's levels (one more write)."""
    info = tiles.read_tiles_info(store)
    width, height, _ = info.scale(0).size
    pixels = width * height * np.dtype(info.data_type).itemsize
    return {"bytes_in": pixels, "reads": 2, "writes": tiles.shards_per_section(info) + int(levels)}


@functools.lru_cache(maxsize=8)
def _section_bytes(source: str, name: str, page: int | None) -> int:
    """The sections' own size: pairs and solve run before render has planned the tiles."""
    from emcore.images import read_header
    header = read_header(open_storage(source), name, page)
    return header.width * header.height * np.dtype(header.dtype).itemsize
