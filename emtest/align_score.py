"""Scoring an alignment of a case (align_cases.py) against its known truth.

An output places section z by a map O_z from section pixels to frame pixels (an affine, or an
affine and a vector field). Section z is right if O_z T_z is the same map for every z. A grid of
true points X is carried through T_z and then O_z; one global affine G (fitted over every placed
section and point, robustly) is removed, since the output may choose any frame:

    position_z(X) = G^-1 O_z T_z (X)
    pairwise error   |position_z(X) - position_z'(X)|   z, z' consecutive sections with tissue
    absolute error   |position_z(X) - X|

in pixels of the real sections (4 nm; a case upsampled 2x has its errors halved back), since
what real sections disagree by is a property of the tissue at its own resolution. A section the output cannot place (no transform, or flagged as placed by
interpolation because no usable pair touched it) is infinitely wrong, and so is every pair it is
in. Blank sections have nothing to place and are left out; their neighbours then count as
consecutive. "Regular" pairs are consecutive sections with no fault on either side and one real
section apart (not across a missing section).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from emtest.align_cases import Case

# Placement: section pixels (n, 2) -> frame pixels (n, 2); None when the output cannot place it.
Placement = Callable[[np.ndarray], np.ndarray]


def affine_placement(matrix) -> Placement:
    m = np.asarray(matrix, np.float64)
    return lambda p: p @ m[:, :2].T + m[:, 2]


def field_placement(matrix, field: np.ndarray | None, mip: int) -> Placement:
    from emcore.fields import frame_points
    return lambda p: frame_points(p, matrix, field, mip)


@dataclass
class Score:
    pairwise: np.ndarray          # (pairs, points) px, inf where a pair cannot be placed
    regular: np.ndarray           # bool per pair
    absolute: np.ndarray          # (sections with tissue, points)
    pairs: list[tuple[int, int]]

    @property
    def figures(self) -> dict[str, float]:
        reg = self.pairwise[self.regular]
        return {
            "pair_median": float(np.median(self.pairwise)),
            "pair_p95_regular": float(np.percentile(reg, 95)) if reg.size else float("nan"),
            "pair_p95": float(np.percentile(self.pairwise, 95)),
            "abs_median": float(np.median(self.absolute)),
            "abs_p95": float(np.percentile(self.absolute, 95)),
            "unplaced_pairs": int(np.sum(~np.isfinite(self.pairwise).all(axis=1))),
        }

    def worst_pairs(self, count: int = 3) -> list[tuple[tuple[int, int], float]]:
        med = np.median(self.pairwise, axis=1)
        order = np.argsort(-med)[:count]
        return [(self.pairs[i], float(med[i])) for i in order]


def score(case: Case, placements: dict[int, Placement | None]) -> Score:
    grid = case.grid()
    placed: dict[int, np.ndarray | None] = {}
    for z, smap in enumerate(case.maps):
        if smap is None:
            continue
        place = placements.get(z)
        placed[z] = None if place is None else place(smap.forward(grid))
    good = [p for p in placed.values() if p is not None]
    g = _global_affine(grid, good) if good else np.array([[1.0, 0, 0], [0, 1.0, 0]])
    inv_lin = np.linalg.inv(g[:, :2])
    position = {z: None if p is None else (p - g[:, 2]) @ inv_lin.T for z, p in placed.items()}
    inf = np.full(len(grid), np.inf)
    absolute = np.array([inf if p is None else np.linalg.norm(p - grid, axis=1) for p in position.values()]) / case.up
    zs = sorted(position)
    pairs = list(zip(zs, zs[1:]))
    pairwise = np.array([inf if position[a] is None or position[b] is None
                         else np.linalg.norm(position[a] - position[b], axis=1) for a, b in pairs]) / case.up
    regular = np.array([b == a + 1 and a not in case.faults and b not in case.faults
                        and abs(case.sources[b] - case.sources[a]) == 1 for a, b in pairs])
    return Score(pairwise, regular, absolute, pairs)


def repeatability(reference: Case, reference_placements: dict[int, Placement | None],
                  case: Case, placements: dict[int, Placement | None]) -> dict[str, float]:
    """How far an output on `case` is from the same aligner's output on `reference`, where both
    show the same real sections in the same true coordinates (same `up`) and only the known maps,
    photometry or field of view differ. An oracle that needs no truth of how real neighbours
    relate: section z's true points go through T_z and O_z in each, one global affine H between
    the two frames is removed (robustly, as in score), and

        d_z(X) = H^-1 O_z T_z(X) - O'_z T'_z(X)
        pairwise  |d_z - d_z'| (consecutive sections placed in both)     absolute |d_z|

    in px of the real sections. An exact matcher gives 0 whatever the case; what is left is how
    much the answer depends on what the case changed."""
    if case.up != reference.up or case.sources != reference.sources:
        raise ValueError("repeatability compares outputs on the same sections at the same scale")
    grid = case.grid()

    def positions(c: Case, places) -> dict[int, np.ndarray]:
        out = {}
        for z, smap in enumerate(c.maps):
            place = places.get(z)
            if smap is not None and place is not None:
                out[z] = place(smap.forward(grid))
        return out

    ref, out = positions(reference, reference_placements), positions(case, placements)
    zs = sorted(set(ref) & set(out))
    h = _global_affine_between(np.concatenate([ref[z] for z in zs]), np.concatenate([out[z] for z in zs]))
    inv_lin = np.linalg.inv(h[:, :2])
    d = {z: (out[z] - h[:, 2]) @ inv_lin.T - ref[z] for z in zs}
    pairwise = np.array([np.linalg.norm(d[a] - d[b], axis=1) for a, b in zip(zs, zs[1:])]) / case.up
    absolute = np.array([np.linalg.norm(d[z], axis=1) for z in zs]) / case.up
    return {"pair_median": float(np.median(pairwise)), "pair_p95": float(np.percentile(pairwise, 95)),
            "abs_median": float(np.median(absolute)), "abs_p95": float(np.percentile(absolute, 95)),
            "sections": len(zs)}


def _global_affine(grid: np.ndarray, placed: list[np.ndarray]) -> np.ndarray:
    """G with G(X) ~ placed, least squares; refitted without points more than 5x the median
    residual (and 2 px) off, so that one wild section does not tilt the frame for all."""
    return _global_affine_between(np.concatenate([grid] * len(placed)), np.concatenate(placed))


def _global_affine_between(true: np.ndarray, out: np.ndarray) -> np.ndarray:
    from functions.align.models import fit
    g = fit("affine", true, out)
    for _ in range(2):
        r = np.linalg.norm(true @ g[:, :2].T + g[:, 2] - out, axis=1)
        keep = r <= max(5 * np.median(r), 2.0)
        g = fit("affine", true[keep], out[keep])
    return g


def table(rows: dict[str, dict[str, float]]) -> str:
    """Figures of several methods as aligned text lines."""
    head = f"{'':<22}{'pair median':>12}{'pair p95 reg':>13}{'abs median':>11}{'abs p95':>9}{'unplaced':>9}"
    lines = [head]
    for name, f in rows.items():
        lines.append(f"{name:<22}{f['pair_median']:>12.3f}{f['pair_p95_regular']:>13.3f}{f['abs_median']:>11.3f}"
                     f"{f['abs_p95']:>9.3f}{f['unplaced_pairs']:>9d}")
    return "\n".join(lines)


def continuity(images: list[np.ndarray], matrices: list, border: int = 40, blur: float = 2.0,
               fields: list | None = None) -> np.ndarray:
    """How alike consecutive sections are once placed by `matrices` (section px -> frame px): the
    normalised cross-correlation of each rendered pair where both have tissue, after a `blur` px
    blur (the fine texture differs between real sections whatever the alignment). A measure that
    needs no truth: the better the alignment, the higher. Sections whose matrix is None (nothing
    to place) are skipped, their neighbours compared with each other. `fields`: (field, mip) per
    section (the seamless stage's), rendered with the affine in one resampling."""
    import cv2
    from emcore.fields import warp_with_field
    fields = fields or [None] * len(images)
    kept = [(im, np.asarray(m, np.float64), f) for im, m, f in zip(images, matrices, fields) if m is not None]
    corners = np.concatenate([np.array([[0, 0], [im.shape[1], 0], [0, im.shape[0]], [im.shape[1], im.shape[0]]])
                              @ m[:, :2].T + m[:, 2] for im, m, _ in kept])
    lo = np.floor(corners.min(axis=0))
    size = tuple(int(v) for v in np.ceil(corners.max(axis=0) - lo))
    rendered = []
    for im, m, field in kept:
        shifted = m.copy()
        shifted[:, 2] -= lo
        smooth = cv2.GaussianBlur(im.astype(np.float32), (0, 0), blur)
        if field is None:
            image = cv2.warpAffine(smooth, shifted, size)
        else:
            if lo.any():
                raise ValueError("fields are on the align frame: give matrices in frame pixels (origin 0)")
            image = warp_with_field(smooth, shifted, field[0], size[::-1], field[1])
        inside = cv2.warpAffine(np.ones(im.shape, np.uint8), shifted, size, flags=cv2.INTER_NEAREST)
        inside = cv2.erode(inside, np.ones((2 * border + 1, 2 * border + 1), np.uint8)) > 0
        rendered.append((image, inside))
    out = []
    for (a, ma), (b, mb) in zip(rendered, rendered[1:]):
        both = ma & mb
        if both.sum() < 1000:
            out.append(np.nan)
            continue
        x, y = a[both] - a[both].mean(), b[both] - b[both].mean()
        out.append(float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum())))
    return np.array(out)
