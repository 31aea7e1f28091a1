"""Equivalences between segments of touching blocks, from their faces alone.

Two blocks touch when their grid positions differ by a direction d in {-1, 0, 1}^3. Along the
axes where d is not 0 only the outermost layer of each block can hold touching voxels; along the
others both blocks span the same range (the grid is regular), so a voxel at in-plane index p of
one block touches the other block's voxels at p + s for every in-plane step s that the
connectivity allows (a step counts one axis per non-zero component of d and of s).
"""
from __future__ import annotations

import itertools

import numpy as np

from functions.cc.grid import MAX_STEPS, check_connectivity, seam_pairs


def _layer(faces: dict, sides) -> np.ndarray:
    """The voxels of a block on its `sides` (per axis: -1 low, +1 high, 0 all), as a 3-D array of
    extent 1 along the constrained axes."""
    axes = [i for i in range(3) if sides[i]]
    first = axes[0]
    layer = np.expand_dims(faces["xyz"[first] + ("1" if sides[first] > 0 else "0")], first)
    for j in axes[1:]:
        index = [slice(None)] * 3
        index[j] = slice(-1, None) if sides[j] > 0 else slice(0, 1)
        layer = layer[tuple(index)]
    return layer


def _unique_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.size == 0:
        return np.zeros((0, 2), dtype=np.uint64)
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    new = np.ones(a.size, dtype=bool)
    new[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    return np.stack([a[new], b[new]], axis=1)


def seam_edges(faces_a: dict, faces_b: dict, direction, connectivity: int) -> np.ndarray:
    """Unique (id in a, id in b) pairs of touching foreground voxels, for block b at grid
    position pos(a) + direction. Returns an (E, 2) uint64 array."""
    check_connectivity(connectivity)
    d = tuple(int(v) for v in direction)
    la = _layer(faces_a, d)
    lb = _layer(faces_b, tuple(-v for v in d))
    if la.shape != lb.shape:
        raise ValueError(f"faces do not line up across direction {d}: {la.shape} vs {lb.shape}")
    free = [i for i in range(3) if d[i] == 0]
    budget = MAX_STEPS[connectivity] - sum(1 for v in d if v)
    if budget < 0:
        return np.zeros((0, 2), dtype=np.uint64)
    found_a, found_b = [], []
    for steps in itertools.product((-1, 0, 1), repeat=len(free)):
        if sum(1 for s in steps if s) > budget:
            continue
        ia, ib = [slice(None)] * 3, [slice(None)] * 3
        for axis, s in zip(free, steps):
            n = la.shape[axis]
            ia[axis] = slice(max(0, -s), n - max(0, s))
            ib[axis] = slice(max(0, s), n - max(0, -s))
        va, vb = la[tuple(ia)].ravel(), lb[tuple(ib)].ravel()
        touching = (va != 0) & (vb != 0)
        found_a.append(va[touching])
        found_b.append(vb[touching])
    return _unique_pairs(np.concatenate(found_a), np.concatenate(found_b))


def task_edges(blocks, faces_by_block: dict, grid, connectivity: int) -> np.ndarray:
    """All equivalences between each block of `blocks` and its later neighbours (by face, edge
    or corner). `faces_by_block` maps block index -> faces for `blocks` and those neighbours
    (grid.blocks_to_read lists them). Each touching pair is seen by exactly one merge task."""
    found = [seam_edges(faces_by_block[a], faces_by_block[b], d, connectivity)
             for a, b, d in seam_pairs(blocks, grid)]
    if not found:
        return np.zeros((0, 2), dtype=np.uint64)
    edges = np.concatenate(found)
    return _unique_pairs(edges[:, 0], edges[:, 1])
