"""Neuroglancer precomputed volumes: their geometry (scales, chunks, shards) and I/O via TensorStore.

The geometry is computed here once and written as the volume's `info` before any task writes data;
tasks open a scale of an existing volume. Sharding is chosen so that a shard is an aligned box of
chunks inside one block (see `sharding_for`): the task that owns a block owns every shard in it, so
no shard is ever written by two tasks and no write needs a transaction.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from urllib.parse import urlparse

import numpy as np

from emcore.storage import local_path, normalize_url

_CONTEXT = None


def context():
    """One TensorStore context per process: shares the cache pool and the `memory` kvstore, so
    `mem://` volumes opened twice in a process see the same data."""
    global _CONTEXT
    if _CONTEXT is None:
        import tensorstore as ts
        _CONTEXT = ts.Context({"cache_pool": {"total_bytes_limit": 0}})
    return _CONTEXT


def kvstore_spec(url: str) -> dict:
    url = normalize_url(url)
    parsed = urlparse(url)
    path = parsed.path.lstrip("/")
    if parsed.scheme == "file":
        return {"driver": "file", "path": local_path(url) + "/"}
    if parsed.scheme == "mem":
        return {"driver": "memory", "path": f"{parsed.netloc}/{path}"}
    if parsed.scheme == "gs":
        return {"driver": "gcs", "bucket": parsed.netloc, "path": path}
    if parsed.scheme == "s3":
        spec = {"driver": "s3", "bucket": parsed.netloc, "path": path,
                "aws_region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                "aws_credentials": {"type": "environment"}}
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            spec["endpoint"] = endpoint
        return spec
    raise ValueError(f"no TensorStore kvstore for {url!r}")


def downsample_factor(resolution: list[float]) -> list[int]:
    """Halve the axes whose voxels are finer than twice the finest: 4x4x40 nm voxels are halved
    in x and y until they approach 40 nm, then in all three, so scales approach isotropy."""
    finest = min(resolution)
    return [2 if r < 2 * finest else 1 for r in resolution]


@dataclass(frozen=True)
class Scale:
    index: int
    size: tuple[int, int, int]
    resolution: tuple[float, float, float]
    voxel_offset: tuple[int, int, int]
    factor: tuple[int, int, int]      # cumulative downsampling relative to scale 0
    step: tuple[int, int, int]        # downsampling from the previous scale

    @property
    def key(self) -> str:
        return "_".join(f"{r:g}" for r in self.resolution)


def pyramid_scales(size, resolution, voxel_offset, chunk) -> list[Scale]:
    """Scales from full resolution until one fits in a single chunk: no cap on their number."""
    scales = [Scale(0, tuple(size), tuple(resolution), tuple(voxel_offset), (1, 1, 1), (1, 1, 1))]
    while any(s > c for s, c in zip(scales[-1].size, chunk)):
        prev = scales[-1]
        step = downsample_factor(list(prev.resolution))
        factor = tuple(f * s for f, s in zip(prev.factor, step))
        scales.append(Scale(
            index=prev.index + 1,
            size=tuple(-(-n // s) for n, s in zip(prev.size, step)),
            resolution=tuple(r * s for r, s in zip(prev.resolution, step)),
            voxel_offset=tuple(o // f for o, f in zip(voxel_offset, factor)),
            factor=factor,
            step=tuple(step),
        ))
    return scales


def offset_problem(scales: list[Scale]) -> str | None:
    base = scales[0].voxel_offset
    for s in scales:
        for d in range(3):
            if base[d] % s.factor[d]:
                return (f"voxel_offset {list(base)} is not divisible by the downsampling factor "
                        f"{list(s.factor)} of scale {s.index}; use offsets that are multiples of {list(scales[-1].factor)}")
    return None


def _bits(n: int) -> int:
    return max(0, math.ceil(math.log2(n))) if n > 1 else 0


def _shard_bits(size, chunk, block) -> tuple[list[int], list[int]]:
    """(log2 of the chunks a shard spans along each axis, bits of each axis's chunk grid)."""
    grid = [-(-s // c) for s, c in zip(size, chunk)]
    per_block = [b // c for b, c in zip(block, chunk)]
    j = min(_bits(p) for p in per_block)
    bits = [_bits(g) for g in grid]
    return [min(j, b) for b in bits], bits


def sharding_for(size, chunk, block) -> dict | None:
    """Sharding whose shards are aligned boxes of chunks lying inside `block`-sized boxes.

    Chunk ids are compressed Morton codes of chunk grid positions; with the identity hash, the
    chunks of one shard are those sharing the code's high bits. The low bits interleave each axis
    up to that axis's own bit count, so the lowest sum(min(j, bits_d)) bits span 2^min(j, bits_d)
    chunks along axis d: an aligned box that fits in the block when 2^j chunks do.
    """
    spans, bits = _shard_bits(size, chunk, block)
    in_shard = sum(spans)
    total = sum(bits)
    minishard_bits = min(in_shard, 6)
    return {
        "@type": "neuroglancer_uint64_sharded_v1",
        "hash": "identity",
        "preshift_bits": in_shard - minishard_bits,
        "minishard_bits": minishard_bits,
        "shard_bits": total - in_shard,
        "minishard_index_encoding": "gzip",
        "data_encoding": "raw",
    }


def shard_shape(size, chunk, block) -> list[int]:
    """The voxels one of `sharding_for`'s shards spans along each axis (x, y, z): the same boxes
    for a format whose shards are a regular grid (zarr v3's sharding codec), so that they too lie
    inside one block. Along an axis with fewer chunks than a shard spans it reaches past the
    volume's end, as the precomputed shard does."""
    spans, _ = _shard_bits(size, chunk, block)
    return [c << s for c, s in zip(chunk, spans)]


def open_scale(url: str, scale_index: int, read_only: bool = False, complete: bool = False):
    """Open one scale of an existing precomputed volume; arrays are indexed [x, y, z, channel].
    `complete`: every chunk must exist (an intermediate written whole, such as the rendered
    tiles), so a missing one fails the read (`read_block`: a TaskError) instead of reading as
    zeros, which is what a volume's absent chunks otherwise mean."""
    import tensorstore as ts
    spec = {"driver": "neuroglancer_precomputed", "kvstore": kvstore_spec(url), "scale_index": scale_index,
            "recheck_cached_metadata": False, "recheck_cached_data": False}
    if complete:
        spec["fill_missing_data_reads"] = False
    mode = {"read": True} if read_only else {"read": True, "write": True}
    return ts.open(spec, open=True, context=context(), **mode).result()


def read_block(store, lo, hi) -> np.ndarray:
    """Read [lo, hi) in volume coordinates (voxel_offset included) as an (x, y, z) array.

    Fortran order: precomputed chunks store x fastest, so this is a copy, not a transpose
    (reading a 1024x1024x512 block: 0.7 CPU-s instead of 10.9), and writing it back is too."""
    sel = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    view = store[sel + (0,)] if store.domain.rank == 4 else store[sel]
    try:
        return view.read(order="F").result()
    except ValueError as e:
        if "NOT_FOUND" not in str(e):
            raise
        # Only a volume opened `complete` reports missing chunks.
        from emcore.stage import TaskError
        raise TaskError(f"intermediate data is missing ({e}): it was deleted before this task read it "
                        "(by the bucket's lifecycle rule for temporaries, or by a tidy wave); run the job "
                        "again at a new dest") from None


def write_block(store, lo, array: np.ndarray) -> None:
    hi = [int(a) + n for a, n in zip(lo, array.shape[:3])]
    sel = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    view = store[sel + (0,)] if store.domain.rank == 4 else store[sel]
    view.write(array).result()


def downsample(array: np.ndarray, step, method: str) -> np.ndarray:
    """Downsample an (x, y, z) array by `step` with `mean` (image; rounds half to even like numpy)
    or `mode` (segmentation). Edge windows that extend past the array average what exists."""
    import tensorstore as ts
    if tuple(step) == (1, 1, 1):
        return array
    return ts.downsample(ts.array(array), list(step), method).read(order="F").result()
