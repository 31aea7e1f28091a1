"""The rendered stack: the contract between the render wave (align stage) and the pyramid.

Render writes each section, warped into the global frame, as one z-slice of a zarr v3 array under
`<dest>/tiles/`, indexed [x, y, z], in tiles [tile_x, tile_y, 1]. A row of tiles is one shard
(one object), which the pyramid reads by byte range: a 16384 px section in 512 px tiles is then
32 writes instead of 1024 (on Cloud Storage $0.000005 each: $21 a terabyte), and on a local disk
32 files. A row rather than the whole section, so that writing it holds two copies of a row
(8 MB) and not of the section. The shard is laid out here, with no library in between
(a tile's bytes are the frame's rows, copied once); TensorStore reads it as any zarr v3 array.
`tiles/info` describes the stack for the planners (size, data type, tile, voxel offset, as a
precomputed scale would). The pyramid reads it here too (`read_block`), a row of tiles at a time.
The stack is temporary: the pyramid's last wave deletes the sections
unless `keep_tiles` is set (`info` and `zarr.json` stay, a few hundred bytes). Unless `keep_tiles`
is set, its shards are also written as temporaries (`Storage.write`), which the bucket's lifecycle
rule may delete some days later; the pyramid reads them so that a shard deleted too early fails
its task with that said, instead of reading as black.
"""
from __future__ import annotations

import json

import numpy as np

from emcore.jobroot import stage_options
from emcore.multiscale import SHARD_SIDE
from emcore.stage import TaskError
from emcore.storage import NotFound, Storage
from emcore.precomputed import Precomputed, ScaleMeta
from emcore.volume import Scale, context, kvstore_spec

PREFIX = "tiles"


def tiles_url(store: Storage) -> str:
    return store.url + PREFIX + "/"


def tile_shape(width: int, height: int, tile: list[int]) -> list[int]:
    """Tiles of `tile` (the pyramid's block), at most a shard's side: the pyramid reads a block
    one shard-sized piece at a time (emcore/multiscale.py), and a piece of a larger tile made it
    read the whole tile, four times over for 1024 px tiles (1.24 ms/MB read, 0.6 with 512)."""
    return [min(width, tile[0], SHARD_SIDE), min(height, tile[1], SHARD_SIDE), 1]


TEMPORARY = "emctl_temporary"   # a key of the tiles' info: are the shards temporaries (Neuroglancer ignores it)


def write_tiles_info(store: Storage, size, dtype: str, resolution, voxel_offset, tile) -> None:
    scale = Scale(0, tuple(size), tuple(resolution), tuple(voxel_offset), (1, 1, 1), (1, 1, 1))
    tile = tile_shape(size[0], size[1], tile)
    info = Precomputed.new(tiles_url(store), "image", dtype, [ScaleMeta.of(scale, tile, "raw")])
    info = info.with_extra(**{TEMPORARY: not _kept(store)})
    info.write()
    store.write(f"{PREFIX}/zarr.json", (json.dumps(_zarr_metadata(info), indent=1, sort_keys=True) + "\n").encode())


def _zarr_metadata(info: Precomputed) -> dict:
    """One shard a row of tiles (its width rounded up to whole tiles: zarr shards hold whole inner
    chunks), tiles stored x fastest (the transpose codec), the shard index at the end."""
    scale = info.scale(0)
    tx, ty, _ = scale.chunk
    width, height, depth = scale.size
    return {"zarr_format": 3, "node_type": "array", "shape": [width, height, depth],
            "data_type": info.data_type, "fill_value": 0,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [-(-width // tx) * tx, ty, 1]}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "codecs": [{"name": "sharding_indexed", "configuration": {
                "chunk_shape": [tx, ty, 1],
                "codecs": [{"name": "transpose", "configuration": {"order": [2, 1, 0]}},
                           {"name": "bytes", "configuration": {"endian": "little"}}],
                "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
                "index_location": "end"}}]}


def _kept(store: Storage) -> bool:
    """The pyramid's `keep_tiles`, from the job's config at this root."""
    return bool((stage_options(store, "pyramid") or {}).get("keep_tiles"))


def read_tiles_info(store: Storage) -> Precomputed | None:
    return Precomputed.read_if_present(tiles_url(store))


def open_tiles(store: Storage, read_only: bool = False):
    """The stack as a TensorStore array indexed [x, y, z] in volume coordinates (voxel offset
    included)."""
    import tensorstore as ts
    offset = read_tiles_info(store).scale(0).voxel_offset
    spec = {"driver": "zarr3", "kvstore": kvstore_spec(tiles_url(store)),
            "recheck_cached_metadata": False, "recheck_cached_data": False}
    mode = {"read": True} if read_only else {"read": True, "write": True}
    return ts.open(spec, open=True, context=context(), **mode).result().translate_to[tuple(offset)]


def read_block(store: Storage, info: Precomputed, lo, hi) -> np.ndarray:
    """[lo, hi) of the stack (volume coordinates) as an (x, y, z) Fortran-ordered array, with one
    ranged read per section and row of tiles: tiles have a fixed size, so the byte range of a
    run of tiles is known without the shard index (TensorStore read the index first, and each tile
    apart: 2 reads a tile where this makes one a row; $1.6 a terabyte of Cloud Storage reads).
    On a cloud store sections are read 8 at a time: its latency, not its bandwidth, limits one
    read; on a local one threads only cost CPU."""
    from concurrent.futures import ThreadPoolExecutor
    threads = 8 if store.url.startswith(("gs://", "s3://")) else 1
    scale = info.scale(0)
    dtype = np.dtype(info.data_type).newbyteorder("<")
    tx, ty, _ = scale.chunk
    origin = scale.voxel_offset
    (x0, y0, z0), (x1, y1, z1) = ([int(v) - o for v, o in zip(c, origin)] for c in (lo, hi))
    out = np.zeros((x1 - x0, y1 - y0, z1 - z0), dtype, order="F")
    ix0, ix1 = x0 // tx, -(-x1 // tx)
    nbytes = tx * ty * dtype.itemsize

    def section(z: int) -> None:
        plane = out[:, :, z - z0].T                  # (rows, columns), a view in C order
        for key, row_y in section_shards(info, z + origin[2]):
            if row_y + ty <= y0 or row_y >= y1:
                continue
            try:
                data = store.read_range(key, ix0 * nbytes, ix1 * nbytes)
            except NotFound:
                raise TaskError(f"{store.url}{key}: section {z + origin[2]} of the rendered stack is missing "
                                "(intermediate data, deleted as a temporary?): run the job again, or with "
                                "stages.pyramid.keep_tiles") from None
            row = np.frombuffer(data, dtype).reshape(ix1 - ix0, ty, tx)
            ya, yb = max(y0, row_y), min(y1, row_y + ty)
            for i in range(ix1 - ix0):
                xa, xb = max(x0, (ix0 + i) * tx), min(x1, (ix0 + i + 1) * tx)
                plane[ya - y0:yb - y0, xa - x0:xb - x0] = row[i, ya - row_y:yb - row_y, xa - (ix0 + i) * tx:xb - (ix0 + i) * tx]

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(section, range(z0, z1)))
    return out


def write_section(store: Storage, info: Precomputed, z: int, frame) -> None:
    """Write one rendered section, a (rows, cols) array, as slice `z` (volume coordinates) of the
    stack, a shard per row of tiles: the row's tiles back to back, each the frame's rows (x
    fastest, little-endian) zero-padded to a whole tile at the right and bottom edges, then the
    shard index: per tile, left to right, its byte offset and length (uint64)."""
    dtype = np.dtype(info.data_type).newbyteorder("<")
    tx, ty, _ = info.scale(0).chunk
    for key, y0 in section_shards(info, z):
        strip = frame[y0:y0 + ty]
        index = np.zeros((-(-strip.shape[1] // tx), 1, 1, 2), "<u8")
        parts, at = [], 0
        for ix in range(len(index)):
            tile = strip[:, ix * tx:(ix + 1) * tx]
            if tile.shape != (ty, tx):
                padded = np.zeros((ty, tx), dtype)
                padded[:tile.shape[0], :tile.shape[1]] = tile
                tile = padded
            parts.append(tile.astype(dtype, copy=False).tobytes())   # one copy, C order
            index[ix, 0, 0] = (at, len(parts[-1]))
            at += len(parts[-1])
        parts.append(index.tobytes())
        store.write(key, b"".join(parts), temporary=info.get(TEMPORARY, False))


def section_shards(info: Precomputed, z: int):
    """(key, first row) of each shard of slice `z` (volume coordinates): zarr's chunk keys."""
    scale = info.scale(0)
    ty = scale.chunk[1]
    for row, y0 in enumerate(range(0, scale.size[1], ty)):
        yield f"{PREFIX}/c/0/{row}/{z - scale.voxel_offset[2]}", y0


def shards_per_section(info: Precomputed) -> int:
    """Objects a section is written as (for `emctl plan`)."""
    scale = info.scale(0)
    return -(-scale.size[1] // scale.chunk[1])


def delete_section(store: Storage, info: Precomputed, z: int) -> int:
    """Delete slice `z`'s shards; returns how many."""
    return store.delete_all(key for key, _ in section_shards(info, z))
