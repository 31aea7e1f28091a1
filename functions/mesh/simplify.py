"""Error-bounded simplification that never moves a vertex, so chunk seams stay closed.

meshoptimizer's `simplify` collapses edges onto existing vertices (its output indexes the input
vertex array), with `LockBorder` keeping every vertex on an open border — exactly the vertices
where a piece meets its neighbours — and `ErrorAbsolute` taking the error in the coordinates'
units (nm here). Its error is a quadric estimate, not a bound: measured, the real distance between
the surfaces reaches ~2x the target (docs/mesh.md). So the target is a fraction of the bound, and
each result is checked against the bound with a conservative distance estimate; a piece that
fails is simplified again with half the target, and left unsimplified after a few tries.

Locking the border vertices alone is not enough: an inner vertex next to the border may collapse
onto a border vertex and leave a triangle with all three corners on the chunk face, lying in it,
which the neighbour's fragment then meets as a fold (edges with four faces). So the vertices one
triangle away from the border are locked too (`vertex_lock`): the border's triangle fan stays as
marching cubes made it, and the rest of the piece is simplified freely.
"""
from __future__ import annotations

import ctypes

import meshoptimizer
import numpy as np
from meshoptimizer._loader import lib as _lib

from functions.mesh.bound import Check

TARGET_FRACTION = 0.5
ATTEMPTS = 4
_OPTIONS = meshoptimizer.SIMPLIFY_LOCK_BORDER | meshoptimizer.SIMPLIFY_ERROR_ABSOLUTE

# The Python package declares no prototype for meshopt_simplifyWithAttributes (its size_t
# arguments would then go through as C ints): declare it, and call the C function directly.
_simplify_with_attributes = _lib.meshopt_simplifyWithAttributes
_P = ctypes.c_void_p
_S = ctypes.c_size_t
_simplify_with_attributes.argtypes = [_P, _P, _S, _P, _S, _S, _P, _S, _P, _S, _P, _S, ctypes.c_float, ctypes.c_uint, _P]
_simplify_with_attributes.restype = _S


def _meshopt(indices: np.ndarray, points: np.ndarray, lock: np.ndarray, target: float) -> np.ndarray:
    out = np.empty_like(indices)
    attributes = np.zeros(len(points), np.float32)
    weight = np.zeros(1, np.float32)
    n = _simplify_with_attributes(out.ctypes.data, indices.ctypes.data, len(indices), points.ctypes.data, len(points), 12,
                                  attributes.ctypes.data, 4, weight.ctypes.data, 1, lock.ctypes.data,
                                  0, target, _OPTIONS, None)
    return out[:n].reshape(-1, 3)


def simplify(points: np.ndarray, faces: np.ndarray, bound: float, voxel: float,
             lock: np.ndarray | None = None, edge: float | None = None,
             check: "Check | None" = None) -> tuple[np.ndarray, float, "Check"]:
    """Faces of a simplification of (points [n, 3] nm, faces [m, 3]) whose surface stays within
    `bound` nm of the reference surface, the checked distance, and the check.

    The reference is the input itself, or `check`'s source: a finer surface over the same points
    (a coarser level made from a finer one is then bounded against the original, and the check's
    k-d tree is reused). `voxel`: the smallest voxel side (nm), which limits how finely the check
    samples. `lock`: vertices not to remove (default: `border_ring`); `edge`: a bound on the input's
    edge lengths, if the caller knows one (all points then used by `faces`)."""
    if bound <= 0 or len(faces) < 2:
        return faces, 0.0, check
    points = np.ascontiguousarray(points, dtype=np.float32)
    indices = np.ascontiguousarray(faces, dtype=np.uint32).reshape(-1)
    lock = np.ascontiguousarray(border_ring(faces, len(points)) if lock is None else lock, dtype=np.uint8)
    spacing = max(bound / 2, voxel / 2)
    check = check or Check(points, faces, spacing, edge)
    target = bound * TARGET_FRACTION
    for _ in range(ATTEMPTS):
        result = _meshopt(indices, points, lock, target)
        if len(result) == len(faces):
            return faces, 0.0, check
        result = drop_fins(result)
        if manifold(result):   # else two sheets closer than the error collapsed onto one edge
            distance = check.distance(result, bound, spacing)
            if distance <= bound:
                return result, distance, check
        target /= 2
    return faces, 0.0, check


def drop_fins(faces: np.ndarray) -> np.ndarray:
    """Remove pairs of triangles on the same three vertices (opposite sides of a part thinner than
    the error, collapsed onto each other): a zero-volume fin whose edges would have four faces."""
    if len(faces) < 2:
        return faces
    corners = np.sort(faces, axis=1).astype(np.int64)
    top = int(corners[:, 2].max()) + 1
    if top < 2**21:     # one int64 per triangle: np.unique on rows (axis=0) is ~5x slower
        packed = (corners[:, 0] * top + corners[:, 1]) * top + corners[:, 2]
        ordered = np.sort(packed)
        if not (ordered[1:] == ordered[:-1]).any():
            return faces
        _, inverse, counts = np.unique(packed, return_inverse=True, return_counts=True)
    else:
        _, inverse, counts = np.unique(corners, axis=0, return_inverse=True, return_counts=True)
        if counts.max() == 1:
            return faces
    keep = np.ones(len(faces), bool)
    for k in np.flatnonzero(counts > 1):
        members = np.flatnonzero(inverse.reshape(-1) == k)
        keep[members[: 2 * (len(members) // 2)]] = False
    return faces[keep]


def manifold(faces: np.ndarray) -> bool:
    """No edge has more than two faces."""
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1).astype(np.int64)
    _, counts = np.unique(edges[:, 0] << 32 | edges[:, 1], return_counts=True)
    return bool(counts.max() <= 2) if len(counts) else True


def border_ring(faces: np.ndarray, count: int) -> np.ndarray:
    """uint8 per vertex: 1 for vertices on an open border edge or sharing a triangle with one."""
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1).astype(np.int64)
    keys, counts = np.unique(edges[:, 0] * count + edges[:, 1], return_counts=True)
    border = np.zeros(count, bool)
    open_edges = keys[counts == 1]
    border[open_edges // count] = True
    border[open_edges % count] = True
    ring = border[faces].any(axis=1)
    lock = np.zeros(count, np.uint8)
    lock[faces[ring].reshape(-1)] = 1
    return lock
