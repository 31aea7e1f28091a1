"""Synthetic segmentations for the mesh tests and benchmark, deterministic for a seed.

`cells` is what a connected-components stage makes of an EM volume: dense, irregular cells with
wavy faces separated by thin background membranes, many crossing chunk faces and the volume's
faces. `spheres` gives objects whose volume and surface are known.
"""
from __future__ import annotations

import numpy as np


def cells(shape, n: int = 200, seed: int = 0, warp: float = 6.0, membrane: bool = True) -> np.ndarray:
    """uint64 (x, y, z) labels 1..n: Voronoi cells of `n` random seeds in warped coordinates
    (so faces are curved), with a one-voxel background membrane between different cells."""
    from scipy import ndimage
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in shape)
    seeds = rng.uniform(0, 1, (n, 3)) * np.array(shape)
    coarse = tuple(max(2, s // 8) for s in shape)
    out = np.empty(shape, np.uint64)
    tree = cKDTree(seeds)
    # Warp: a smooth random displacement field, sampled coarse and interpolated per slab.
    disp = [ndimage.gaussian_filter(rng.standard_normal(coarse), 1.5, mode="wrap") for _ in range(3)]
    disp = [d / (d.std() + 1e-9) * warp for d in disp]
    zoom = [s / c for s, c in zip(shape, coarse)]
    fine = [ndimage.zoom(d, zoom, order=1, mode="nearest")[:shape[0], :shape[1], :shape[2]] for d in disp]
    ys, zs = np.meshgrid(np.arange(shape[1], dtype=np.float32), np.arange(shape[2], dtype=np.float32), indexing="ij")
    for x in range(shape[0]):
        pts = np.stack([x + fine[0][x], ys + fine[1][x], zs + fine[2][x]], axis=-1).reshape(-1, 3)
        out[x] = tree.query(pts, workers=-1)[1].reshape(shape[1], shape[2]) + 1
    if membrane:
        edge = np.zeros(shape, bool)
        for axis in range(3):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[axis], hi[axis] = slice(0, -1), slice(1, None)
            edge[tuple(hi)] |= out[tuple(lo)] != out[tuple(hi)]
        out[edge] = 0
    return out


def spheres(shape, centers, radii, ids=None) -> np.ndarray:
    """uint64 labels of solid balls (later ones overwrite earlier ones); voxel centres at i + 0.5."""
    grid = np.indices(shape, dtype=np.float32) + 0.5
    out = np.zeros(shape, np.uint64)
    for i, (c, r) in enumerate(zip(centers, radii)):
        inside = sum((g - float(x)) ** 2 for g, x in zip(grid, c)) <= r * r
        out[inside] = ids[i] if ids is not None else i + 1
    return out


def write_segmentation(url: str, labels: np.ndarray, resolution, voxel_offset=(0, 0, 0), chunk=(64, 64, 64),
                       sharded: bool = False) -> None:
    """Write `labels` (x, y, z) as a one-scale precomputed segmentation (compressed_segmentation)
    with TensorStore, the way a user's own segmentation might be stored."""
    import tensorstore as ts

    from emcore.volume import kvstore_spec

    scale = {"size": [int(s) for s in labels.shape], "resolution": [float(r) for r in resolution],
             "encoding": "compressed_segmentation", "compressed_segmentation_block_size": [8, 8, 8],
             "chunk_size": [int(c) for c in chunk], "voxel_offset": [int(o) for o in voxel_offset]}
    if sharded:
        scale["sharding"] = {"@type": "neuroglancer_uint64_sharded_v1", "hash": "identity", "preshift_bits": 0,
                             "minishard_bits": 0, "shard_bits": 0, "minishard_index_encoding": "raw",
                             "data_encoding": "raw"}
    store = ts.open({"driver": "neuroglancer_precomputed", "kvstore": kvstore_spec(url),
                     "multiscale_metadata": {"type": "segmentation", "data_type": "uint64", "num_channels": 1},
                     "scale_metadata": scale}, create=True, delete_existing=True).result()
    box = tuple(slice(o, o + s) for o, s in zip(voxel_offset, labels.shape))
    store[box + (0,)].write(labels.astype(np.uint64)).result()
