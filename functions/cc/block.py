"""First wave of the cc stage: label one block of the descriptor volume.

A block is labelled on its own with cc3d. What the merge needs to join it to its neighbours is
its six outermost voxel layers ("faces"): every voxel that can touch a voxel of another block,
across a face, an edge or a corner, lies in one of them, so the faces of two blocks are enough to
find every equivalence between them with any connectivity (see seams.py).

The labels themselves are not stored: they are a deterministic function of the block's
descriptor values, and labelling again in the remap wave (cc3d: ~60 ms for 256^3) costs less than
compressing, storing and decompressing 4 bytes a voxel (~160 ms, bench/cc.py).

Statistics are kept as exact integers (voxel counts, coordinate sums, bounding boxes; stats.py)
so that summing them over the pieces of a segment gives exactly what one pass over the whole
volume gives.
"""
from __future__ import annotations

import cc3d
import numpy as np

from functions.cc.grid import ID_STRIDE, block_base, check_connectivity
from functions.cc.stats import statistics

FACE_KEYS = ("x0", "x1", "y0", "y1", "z0", "z1")


def faces_of(labels: np.ndarray) -> dict[str, np.ndarray]:
    """The six outermost layers, keyed axis + side (0 low, 1 high); each is 2-D over the two
    other axes in x, y, z order. Basic slicing: np.take would copy the whole block to C order
    first (seconds per block for a Fortran-ordered one)."""
    out = {}
    for axis, name in enumerate("xyz"):
        for side, index in (("0", 0), ("1", -1)):
            at = [slice(None)] * 3
            at[axis] = index
            out[name + side] = np.ascontiguousarray(labels[tuple(at)])
    return out


def local_labels(block: np.ndarray, ccthresh: float, connectivity: int) -> tuple[np.ndarray, int, np.ndarray]:
    """(labels, n, mask): cc3d's uint32 labels 1..n of the voxels > `ccthresh` (`mask`), the
    same on every call with the same values (the remap wave relies on it), in the block's
    memory order."""
    check_connectivity(connectivity)
    block = np.asarray(block)
    if block.ndim != 3:
        raise ValueError(f"block must be 3-D (x, y, z), got shape {block.shape}")
    if block.size >= ID_STRIDE:
        raise ValueError(f"block of {block.size} voxels does not fit the id scheme (< 2**32)")
    mask = block > ccthresh
    labels, n = cc3d.connected_components(mask, connectivity=connectivity, return_N=True, out_dtype=np.uint32)
    return labels, n, mask


def label_block(block: np.ndarray, offset, block_index: int, *, ccthresh: float,
                connectivity: int = 26, dustthresh: int = 0) -> tuple[np.ndarray, dict]:
    """Label the voxels of `block` (x, y, z) whose value is > `ccthresh`.

    Returns `(labels, summary)`. `labels` are the uint32 local labels (`local_labels`), dust
    included; segment `local` of the block has the volume-unique id
    `block_index * ID_STRIDE + local`. `summary` holds:
      block, offset, shape, connectivity: ints / lists of 3 ints;
      stats: ids (K,) uint64, voxels (K,) int64, bbox (K, 6) int64 [x0, y0, z0, x1, y1, z1)
             in volume coordinates (end exclusive), sums (K, 3) int64 coordinate sums;
      faces: FACE_KEYS -> 2-D uint64 planes of ids (0 for background and dust).
    Segments smaller than `dustthresh` are left out of the summary only if they touch no block
    face: a piece on a face may continue in the neighbour, and only the merge knows its full
    size. The merge's mapping omits them, so the remap wave writes them as background.
    """
    offset = [int(o) for o in offset]
    local, n, mask = local_labels(block, ccthresh, connectivity)
    stats = statistics(local, mask, n)
    voxels = stats["voxels"]
    local_faces = faces_of(local)

    keep = voxels > 0
    keep[0] = False
    if dustthresh > 0:
        on_face = np.zeros(n + 1, dtype=bool)
        for face in local_faces.values():
            on_face[face] = True
        keep &= (voxels >= dustthresh) | on_face

    # One lookup table both drops dust and turns local labels into volume-unique ids.
    kept = np.flatnonzero(keep)
    ids = np.uint64(block_base(block_index)) + kept.astype(np.uint64)
    lut = np.zeros(n + 1, dtype=np.uint64)
    lut[kept] = ids

    counts = voxels[kept]
    off = np.asarray(offset, dtype=np.int64)
    sums = stats["sums"][kept] + counts[:, None] * off
    bbox = np.concatenate([stats["lo"][kept] + off, stats["hi"][kept] + off + 1], axis=1)

    summary = {
        "block": int(block_index),
        "offset": offset,
        "shape": [int(s) for s in block.shape],
        "connectivity": int(connectivity),
        "stats": {"ids": ids, "voxels": counts, "bbox": bbox, "sums": sums},
        "faces": {k: lut[v] for k, v in local_faces.items()},
    }
    return local, summary
