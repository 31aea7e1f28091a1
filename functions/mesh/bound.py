"""An upper bound of the distance between a surface and its simplification, fast enough to check
every simplified piece (simplify.py).

Both surfaces are covered by points on them: every point of a surface is within a known `cover`
of one of them. A point x of one surface is then within cover + (distance from x's covering
point to the nearest covering point of the other surface) of the other surface, looked up with
k-d trees, both ways. (meshoptimizer's quadric error under-estimates both: a long triangle's
interior cutting across a curved surface, a thin flange collapsed.)

The look-ups are most of a chunk task's time, so known answers are not looked up, and the bound
stays a bound:
* every point of a simplified triangle is within longest edge / sqrt(3) of one of its corners,
  which are input vertices: only triangles longer than sqrt(3) x the limit need samples;
* points are looked up by small cube (`Cubes`): a cube's centre is looked up, and a cube whose
  centre's distance plus its half-diagonal is within the limit needs no more. Only the points of
  the cubes near the limit are looked up one by one. The input's cubes serve every attempt.
"""
from __future__ import annotations

import functools

import numpy as np
from pykdtree.kdtree import KDTree

from functions.mesh.geometry import column_bounds


class Check:
    """The distance from the input surface (points [n, 3] nm, faces) to simplifications of it
    (other triangles over the same points). `spacing`: the simplified surface is sampled that
    finely; `edge`: a bound on the input's edge lengths, if known (all points then in `faces`)."""

    def __init__(self, points: np.ndarray, faces: np.ndarray, spacing: float, edge: float | None = None):
        self.points, self.spacing = points, spacing
        if edge is not None and edge <= spacing:   # no long triangles: the vertices cover it
            self.source, self.source_cover = points, edge / np.sqrt(3)
        else:
            self.source, self.source_cover, _ = surface_points(points, faces, spacing)
        self.source = np.ascontiguousarray(self.source, dtype=np.float32)
        self._tree = None
        self._cubes: dict[float, Cubes] = {}    # the source in cubes, per reach (one per level)

    def distance(self, simplified: np.ndarray, limit: float, spacing: float | None = None) -> float:
        """The bound, or inf as soon as it is known to exceed `limit`; the simplified surface
        sampled `spacing` apart (default: as the source)."""
        if len(simplified) == 0:
            return np.inf
        spacing = spacing or self.spacing
        longest = longest_edges(self.points, simplified)
        long = longest > spacing
        far = long & (longest > np.sqrt(3) * limit)
        used = np.zeros(len(self.points), bool)
        used[simplified.reshape(-1)] = True
        result = np.concatenate([self.points[used], sample_triangles(self.points, simplified[long], longest[long], spacing)])
        # Input -> simplified.
        reach = limit - self.source_cover
        if reach not in self._cubes:
            self._cubes[reach] = Cubes(self.source, reach)
        to_result = self._cubes[reach].farthest(KDTree(result), reach) + self.source_cover
        if to_result > limit:
            return np.inf
        # Simplified -> input.
        near = float(longest[~far].max(initial=0.0)) / np.sqrt(3)
        if not far.any():
            return max(to_result, near)
        return max(to_result, near, self._to_source(simplified[far], longest[far], spacing, limit))

    def _to_source(self, faces: np.ndarray, longest: np.ndarray, spacing: float, limit: float) -> float:
        """The bound from triangles to the input, by lattice samples looked up in the input's
        tree: first a lattice twice as coarse (a quarter of the samples, whose cells' cover
        2 x spacing / sqrt(3) most triangles still meet), then `spacing` for the rest."""
        if self._tree is None:
            self._tree = KDTree(self.source)
        found = 0.0
        for step in (2 * spacing, spacing):
            cover = step / np.sqrt(3)    # the lattice's cells have sides <= step
            if cover >= limit and step > spacing:
                continue
            samples, owner = sample_triangles(self.points, faces, longest, step, owners=True)
            distance = self._tree.query(samples, k=1, distance_upper_bound=max(0.0, limit - cover) * 1.0001)[0]
            worst = np.full(len(faces), -np.inf)
            np.maximum.at(worst, owner, distance)
            done = (worst > -np.inf) & (worst + cover <= limit)    # no samples: not known yet
            found = max(found, float((worst[done] + cover).max(initial=0.0)))
            faces, longest = faces[~done], longest[~done]
            if len(faces) == 0:
                return found
        return np.inf


class Cubes:
    """Points grouped in cubes of side reach / 2, for `farthest`: a cube's points are within its
    half-diagonal (0.43 reach) of its centre, so a cube whose centre lies within reach - half-
    diagonal of a tree's points is within reach, whatever its points. Cubes are found by counting
    into a dense grid, not by sorting; sets too small to gain are looked up point by point."""

    SMALLEST = 2048

    def __init__(self, points: np.ndarray, reach: float):
        self.points = points
        if len(points) < self.SMALLEST or reach <= 0:
            self.centre = None
            return
        low, high = column_bounds(points)
        extent = high - low
        self.side = max(reach / 2, float(extent.max()) / 256)          # at most 257^3 cubes
        self.shape = (extent // self.side).astype(np.int64) + 1
        # Truncation is floor for these non-negative offsets, and a multiply is ~3x cheaper than
        # a float floor division; a point rounded into the next cube is clamped or still within
        # that cube's half-diagonal margin (see `farthest`).
        cell = ((points - low) * np.float32(1 / self.side)).astype(np.int64)
        np.minimum(cell, self.shape - 1, out=cell)                     # float32 rounding at the top
        self.key = cell[:, 0] + self.shape[0] * (cell[:, 1] + self.shape[1] * cell[:, 2])
        self.occupied = np.flatnonzero(np.bincount(self.key, minlength=int(np.prod(self.shape))))
        corner = np.stack(np.unravel_index(self.occupied, self.shape, order="F"), axis=1)
        self.centre = (low + (corner + 0.5) * self.side).astype(np.float32)

    def farthest(self, tree: KDTree, reach: float) -> float:
        """An upper bound of the largest distance from the points to the tree's points, if it is
        at most `reach`; otherwise inf."""
        if len(self.points) == 0:
            return 0.0
        if reach <= 0:
            return np.inf
        bound = reach * 1.0001
        if self.centre is None:
            return _largest(tree.query(self.points, k=1, distance_upper_bound=bound)[0])
        # The half-diagonal, with a margin for float32 rounding of the points and centres.
        radius = self.side * np.sqrt(3) / 2 * 1.0001 + 1e-3
        worst = tree.query(self.centre, k=1, distance_upper_bound=bound)[0] + radius
        unsure = worst > reach
        if not unsure.any():
            return float(worst.max())
        flagged = np.zeros(int(np.prod(self.shape)), bool)
        flagged[self.occupied[unsure]] = True
        single = tree.query(np.ascontiguousarray(self.points[flagged[self.key]]), k=1, distance_upper_bound=bound)[0]
        return max(float(worst[~unsure].max(initial=0.0)), _largest(single))


def _largest(distances: np.ndarray) -> float:
    return float(distances.max()) if np.isfinite(distances).all() else np.inf


def longest_edges(points: np.ndarray, faces: np.ndarray) -> np.ndarray:
    a, b, c = (points[faces[:, i]].astype(np.float64) for i in range(3))
    return np.sqrt(np.max([((b - a) ** 2).sum(1), ((c - b) ** 2).sum(1), ((a - c) ** 2).sum(1)], axis=0))


def surface_points(points: np.ndarray, faces: np.ndarray, spacing: float) -> tuple[np.ndarray, float, int]:
    """Points on the surface covering it: the vertices, then a lattice `spacing` apart on triangles
    longer than that; the cover radius (every point of a triangle is within longest-edge/sqrt(3)
    of a corner, and within spacing/sqrt(3) of its lattice); and how many of the points are vertices."""
    longest = longest_edges(points, faces)
    long = longest > spacing
    cover = max(float(longest[~long].max()) if (~long).any() else 0.0, spacing if long.any() else 0.0) / np.sqrt(3)
    used = np.zeros(len(points), bool)
    used[faces.reshape(-1)] = True
    vertices = points[used].astype(np.float32)
    return np.concatenate([vertices, sample_triangles(points, faces[long], longest[long], spacing)]), cover, len(vertices)


def sample_triangles(points: np.ndarray, faces: np.ndarray, longest: np.ndarray, spacing: float,
                     owners: bool = False):
    """float32 points of a regular barycentric lattice on each triangle, at most `spacing` apart
    along its edges, without the corners; with `owners`, also the triangle of each point.
    `longest`: the triangles' longest edges (longest_edges), which every caller has already.

    Every triangle's lattice is read from one table of all lattices up to LATTICES_MAX steps, so
    the points are made a batch of triangles at a time, whatever the mix of sizes (a loop over
    the sizes present was most of the check's own time: thousands of small arrays); batches of
    about BATCH points bound the temporaries."""
    a, b, c = (points[faces[:, i]].astype(np.float64) for i in range(3))
    steps = np.maximum(1, np.ceil(longest / spacing)).astype(np.int64)
    sampled = np.flatnonzero(steps > 1)
    k = steps[sampled]
    inside = k <= LATTICES_MAX
    tri, kk = sampled[inside], k[inside]
    count = (kk + 1) * (kk + 2) // 2 - 3
    ends = np.cumsum(count)
    samples = np.empty((int(ends[-1]) if len(ends) else 0, 3), np.float32)
    # In float32, the samples' own type, from each triangle's corner and edges repeated (a
    # triangle's points are consecutive: np.repeat, not a gather, ~3x cheaper per point).
    corner, e1, e2 = (x[tri].astype(np.float32) for x in (a, b - a, c - a))
    u, v, start = _lattices()
    cuts = np.unique(np.concatenate([[0], np.searchsorted(ends, np.arange(BATCH, len(samples), BATCH)), [len(tri)]]))
    for i, j in zip(cuts[:-1], cuts[1:]):
        base = int(ends[i - 1]) if i else 0
        n = count[i:j]
        row = np.arange(int(ends[j - 1]) - base) - np.repeat(ends[i:j] - n - base - start[kk[i:j]], n)
        out = samples[base:int(ends[j - 1])]
        out[:] = np.repeat(corner[i:j], n, axis=0)
        out += np.repeat(e1[i:j], n, axis=0) * u[row, None]
        out += np.repeat(e2[i:j], n, axis=0) * v[row, None]
    parts, owner = [samples], [np.repeat(tri, count)] if owners else []
    for kk in np.unique(k[~inside]) if not inside.all() else ():    # the rare ones longer than the table
        sel = sampled[k == kk]
        lu, lv = _lattice(int(kk))
        pa = a[sel][:, None]
        parts.append((pa + lu[None, :, None] * (b[sel][:, None] - pa) + lv[None, :, None] * (c[sel][:, None] - pa))
                     .reshape(-1, 3).astype(np.float32))
        if owners:
            owner.append(np.repeat(sel, len(lu)))
    samples = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return (samples, np.concatenate(owner)) if owners else samples


BATCH = 1 << 16
LATTICES_MAX = 64


@functools.lru_cache(maxsize=None)
def _lattice(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Barycentric coordinates (u, v) of the points i/k, j/k (i + j <= k) of a triangle other
    than its corners."""
    i, j = np.meshgrid(np.arange(k + 1), np.arange(k + 1), indexing="ij")
    keep = (i + j <= k) & ~(((i == 0) | (i == k)) & (j == 0) | ((i == 0) & (j == k)))
    return i[keep] / k, j[keep] / k


@functools.lru_cache(maxsize=None)
def _lattices() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lattices of 2..LATTICES_MAX steps end to end (~44,000 rows): u, v, and where step
    count k's rows start."""
    start = np.zeros(LATTICES_MAX + 1, np.int64)
    u, v = [np.zeros(0)], [np.zeros(0)]
    for k in range(2, LATTICES_MAX + 1):
        start[k] = start[k - 1] + len(u[-1])
        lu, lv = _lattice(k)
        u.append(lu)
        v.append(lv)
    return np.concatenate(u).astype(np.float32), np.concatenate(v).astype(np.float32), start
