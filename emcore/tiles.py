"""The rendered stack: the contract between the render wave (align stage) and the pyramid.

Render writes each section, warped into the global frame, as one z-slice of an unsharded raw
precomputed volume under `<dest>/tiles/`, chunked [tile_x, tile_y, 1] so a section is written in
one piece by one task. The pyramid reads blocks of it. It is temporary: deleting `tiles/` after the
pyramid only costs a re-render if the job is re-run, and the pyramid's last wave does so unless
`keep_tiles` is set (chunks only: `info` stays, a few hundred bytes). Unless `keep_tiles` is set,
its chunks are also written as temporaries (`Storage.write`), which the bucket's lifecycle rule
may delete some days later; the pyramid reads them as a complete volume, so a chunk deleted too
early fails its task with that said, instead of reading as black.
"""
from __future__ import annotations

import json

from emcore.protocol import JOB_KEY
from emcore.storage import NotFound, Storage
from emcore.volume import open_scale, scale_info, volume_info, write_info, Scale

PREFIX = "tiles"


def tiles_url(store: Storage) -> str:
    return store.url + PREFIX + "/"


def tile_shape(width: int, height: int, tile: list[int]) -> list[int]:
    return [min(width, tile[0]), min(height, tile[1]), 1]


TEMPORARY = "emctl_temporary"   # a key of the tiles' info: are the chunks temporaries (Neuroglancer ignores it)


def write_tiles_info(store: Storage, size, dtype: str, resolution, voxel_offset, tile) -> None:
    scale = Scale(0, tuple(size), tuple(resolution), tuple(voxel_offset), (1, 1, 1), (1, 1, 1))
    info = volume_info("image", dtype, [scale_info(scale, tile_shape(size[0], size[1], tile), "raw", None)])
    info[TEMPORARY] = not _kept(store)
    write_info(store, PREFIX, info)


def _kept(store: Storage) -> bool:
    """The pyramid's `keep_tiles`, from the job's config at this root."""
    try:
        config = json.loads(store.read(JOB_KEY))
    except NotFound:
        return False
    return bool((config["stages"].get("pyramid") or {}).get("keep_tiles"))


def read_tiles_info(store: Storage) -> dict | None:
    try:
        return json.loads(store.read(f"{PREFIX}/info"))
    except NotFound:
        return None


def open_tiles(store: Storage, read_only: bool = False):
    """Read-only, as the pyramid reads it: a complete volume, where a missing chunk is an error."""
    return open_scale(tiles_url(store), 0, read_only=read_only, complete=read_only)


def write_section(store: Storage, info: dict, z: int, frame) -> None:
    """Write one rendered section, a (rows, cols) array, as slice `z` (volume coordinates) of the
    tiles volume. Raw precomputed chunks are the image's own rows (x fastest, little-endian), so
    they are written as bytes straight from the array, with no library in between; TensorStore
    reads them back like any chunk."""
    import numpy as np
    dtype = np.dtype(info["data_type"]).newbyteorder("<")
    for key, (x0, x1), (y0, y1) in section_chunks(info, z):
        store.write(key, frame[y0:y1, x0:x1].astype(dtype, copy=False).tobytes(),   # one copy, C order
                    temporary=info.get(TEMPORARY, False))


def delete_section(store: Storage, info: dict, z: int) -> int:
    """Delete slice `z`'s chunks; returns how many."""
    return store.delete_all(key for key, _, _ in section_chunks(info, z))


def section_chunks(info: dict, z: int):
    """(key, (x0, x1), (y0, y1)) of each chunk of slice `z`, x and y relative to the frame."""
    scale = info["scales"][0]
    tx, ty, _ = scale["chunk_sizes"][0]
    ox, oy, _ = scale["voxel_offset"]
    width, height = scale["size"][:2]
    for y0 in range(0, height, ty):
        for x0 in range(0, width, tx):
            x1, y1 = min(x0 + tx, width), min(y0 + ty, height)
            yield f"{PREFIX}/{scale['key']}/{ox + x0}-{ox + x1}_{oy + y0}-{oy + y1}_{z}-{z + 1}", (x0, x1), (y0, y1)
