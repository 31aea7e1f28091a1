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
from pykdtree.kdtree import KDTree

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
    keys, inverse, counts = np.unique(np.sort(faces, axis=1), axis=0, return_inverse=True, return_counts=True)
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


class Check:
    """An upper bound of the two-sided distance between the input surface and a simplified one
    (triangles over the same points).

    Both surfaces are covered by points on them (`surface_points`): every point of a surface is
    within `cover` of one of them. A point x of one surface is then within cover + (distance from
    x's covering point to the nearest covering point of the other surface) of the other surface,
    which is computed with k-d trees, both ways. (meshoptimizer's quadric error under-estimates
    both: a long triangle's interior cutting across a curved surface, a thin flange collapsed.)
    """

    def __init__(self, points: np.ndarray, faces: np.ndarray, spacing: float, edge: float | None = None):
        self.points, self.spacing = points, spacing
        if edge is not None and edge <= spacing:   # no long triangles: the vertices cover it
            self.source, self.source_cover = points, edge / np.sqrt(3)
        else:
            self.source, self.source_cover, _ = surface_points(points, faces, spacing)
        self.source = np.ascontiguousarray(self.source, dtype=np.float32)
        self._tree = None

    def distance(self, simplified: np.ndarray, limit: float, spacing: float | None = None) -> float:
        """The bound, or inf as soon as it is known to exceed `limit`; the simplified surface
        sampled `spacing` apart (default: as the source)."""
        if len(simplified) == 0:
            return np.inf
        result, cover, corners = surface_points(self.points, simplified, spacing or self.spacing)
        # pykdtree: ~1.7x scipy's cKDTree on these queries (docs/mesh.md); float32 is ample in nm.
        to_result = KDTree(result).query(self.source, k=1, distance_upper_bound=_reach(limit, self.source_cover))[0]
        if not np.isfinite(to_result).all():
            return np.inf
        to_result = float(to_result.max()) + self.source_cover
        if len(result) == corners:   # only input vertices: on the input surface
            return max(to_result, cover)
        if self._tree is None:
            self._tree = KDTree(self.source)
        # The corners are input vertices (distance 0): only the lattice samples are looked up.
        to_source = self._tree.query(result[corners:], k=1, distance_upper_bound=_reach(limit, cover))[0]
        return float(max(to_result, to_source.max() + cover))


def _reach(limit: float, cover: float) -> float:
    return max(0.0, limit - cover) * 1.0001


def surface_points(points: np.ndarray, faces: np.ndarray, spacing: float) -> tuple[np.ndarray, float, int]:
    """Points on the surface covering it: the vertices, then a lattice `spacing` apart on triangles
    longer than that; the cover radius (every point of a triangle is within longest-edge/sqrt(3)
    of a corner, and within spacing/sqrt(3) of its lattice); and how many of the points are vertices."""
    a, b, c = (points[faces[:, i]].astype(np.float64) for i in range(3))
    longest = np.sqrt(np.max([((b - a) ** 2).sum(1), ((c - b) ** 2).sum(1), ((a - c) ** 2).sum(1)], axis=0))
    long = longest > spacing
    cover = max(float(longest[~long].max()) if (~long).any() else 0.0, spacing if long.any() else 0.0) / np.sqrt(3)
    used = np.zeros(len(points), bool)
    used[faces.reshape(-1)] = True
    vertices = points[used].astype(np.float32)
    if not long.any():
        return vertices, cover, len(vertices)
    samples = sample_triangles(points, faces[long], spacing, corners=False).astype(np.float32)
    return np.concatenate([vertices, samples]), cover, len(vertices)


def sample_triangles(points: np.ndarray, faces: np.ndarray, spacing: float, corners: bool = True) -> np.ndarray:
    """Points on a regular barycentric lattice of each triangle, at most `spacing` apart along
    its edges; with `corners`, the triangles' vertices too."""
    a, b, c = (points[faces[:, i]].astype(np.float64) for i in range(3))
    longest = np.max([np.linalg.norm(b - a, axis=1), np.linalg.norm(c - b, axis=1), np.linalg.norm(a - c, axis=1)], axis=0)
    steps = np.maximum(1, np.ceil(longest / spacing)).astype(np.int64)
    out = [np.zeros((0, 3))]
    if corners:
        used = np.zeros(len(points), bool)
        used[faces.reshape(-1)] = True
        out = [points[used].astype(np.float64)]
    for k in np.unique(steps):
        if k == 1:
            continue
        sel = steps == k
        i, j = np.meshgrid(np.arange(k + 1), np.arange(k + 1), indexing="ij")
        keep = (i + j <= k) & ~(((i == 0) | (i == k)) & (j == 0) | ((i == 0) & (j == k)))
        u, v = (i[keep] / k)[None, :, None], (j[keep] / k)[None, :, None]
        pa, pb, pc = a[sel][:, None], b[sel][:, None], c[sel][:, None]
        out.append((pa + u * (pb - pa) + v * (pc - pa)).reshape(-1, 3))
    return np.concatenate(out)
