"""Refining correspondences at full resolution by local normalised cross-correlation.

Features found on a shrunk working copy are only as precise as its pixels. Given the coarse model
M (section a -> section b), each chosen point c of section a gets a small template of a at full
resolution; section b is resampled through M into a's frame around c, so the two patches differ
only by the model's local error, and the NCC peak (with a parabolic sub-pixel fit, repeated once
around the found shift to remove most of the fit's bias) gives where c really lies in b. Memory is
the two sections plus a few small patches, whatever the section size.

NCC is also insensitive to brightness and contrast, and its peak value says whether the two
patches look alike at all (damaged or blank patches are dropped).
"""
from __future__ import annotations

import numpy as np

MAX_PATCHES = 256     # correspondences kept per pair: more add little to an affine's precision
MIN_PEAK = 0.3        # NCC below this: the patches do not show the same tissue
MIN_SHARPNESS = 0.15  # ratio of the peak's curvatures: below it, an edge (position known across only)


def patch_geometry(factor: int) -> tuple[int, int]:
    """(template radius, search margin) in full-resolution pixels. The margin covers the coarse
    model's error (about a working pixel); the template grows with it so it holds enough tissue."""
    return 16 + 8 * factor, 3 + 2 * factor


def spread(points: np.ndarray, strength: np.ndarray, shape: tuple[int, int], count: int = MAX_PATCHES) -> np.ndarray:
    """Indices of up to `count` points spread over the section: the strongest per cell of a
    grid, so that a textured corner does not take all the patches (an affine is best determined
    by points far apart)."""
    if len(points) <= count:
        return np.arange(len(points))
    cells = int(np.ceil(np.sqrt(count)))
    h, w = shape
    cx = np.clip((points[:, 0] / w * cells).astype(int), 0, cells - 1)
    cy = np.clip((points[:, 1] / h * cells).astype(int), 0, cells - 1)
    cell = cy * cells + cx
    order = np.lexsort((-strength, cell))             # by cell, strongest first within it
    first = np.r_[True, cell[order][1:] != cell[order][:-1]]
    chosen = order[first]
    if len(chosen) < count:                           # fill with the next strongest overall
        rest = np.setdiff1d(np.argsort(-strength), chosen, assume_unique=True)
        chosen = np.r_[chosen, rest[:count - len(chosen)]]
    return np.sort(chosen[:count])


def _peak(scores: np.ndarray) -> tuple[float, float, float, float] | None:
    """Sub-pixel (dx, dy) of the maximum relative to the map's centre, its value and sharpness;
    None when the maximum sits on the border (outside the search) or is not a peak."""
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    if not (0 < i < scores.shape[0] - 1 and 0 < j < scores.shape[1] - 1):
        return None
    c = scores[i, j]
    l, r, u, d = scores[i, j - 1], scores[i, j + 1], scores[i - 1, j], scores[i + 1, j]
    cxx, cyy = l - 2 * c + r, u - 2 * c + d
    if cxx >= 0 or cyy >= 0:
        return None
    dx, dy = 0.5 * (l - r) / cxx, 0.5 * (u - d) / cyy
    m = scores.shape[0] // 2
    return j - m + dx, i - m + dy, float(c), float(min(cxx, cyy) / max(cxx, cyy))


def refine(a: np.ndarray, b: np.ndarray, m: np.ndarray, centres: np.ndarray, factor: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full-resolution correspondences near `centres` (points of a), given the coarse model m
    (a -> b). Returns (points in a, points in b, NCC peak values), one row per accepted patch."""
    import cv2
    r, margin = patch_geometry(factor)
    side = 2 * (r + margin) + 1
    lin, t = np.asarray(m)[:, :2], np.asarray(m)[:, 2]
    ha, wa = a.shape
    hb, wb = b.shape
    src, dst, peaks = [], [], []
    for cx, cy in np.rint(centres).astype(int):
        if not (r <= cx < wa - r and r <= cy < ha - r):
            continue
        template = a[cy - r:cy + r + 1, cx - r:cx + r + 1].astype(np.float32)
        shift = np.zeros(2)
        result = None
        for _ in range(2):
            origin = np.array([cx, cy], np.float64) - (r + margin) + shift
            # b sampled at M(origin + pixel): the search window in a's frame.
            corners = (np.array([[0, 0], [side, 0], [0, side], [side, side]]) + origin) @ lin.T + t
            if corners.min() < 0 or corners[:, 0].max() > wb - 1 or corners[:, 1].max() > hb - 1:
                result = None
                break
            warp = np.hstack([lin, (lin @ origin + t)[:, None]])
            window = cv2.warpAffine(b, warp, (side, side), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)
            scores = cv2.matchTemplate(window.astype(np.float32), template, cv2.TM_CCOEFF_NORMED)
            result = _peak(scores)
            if result is None:
                break
            shift = shift + result[:2]
        if result is None or result[2] < MIN_PEAK or result[3] < MIN_SHARPNESS or np.abs(shift).max() > margin:
            continue
        # a(c) matches b(M(c + shift)).
        src.append((cx, cy))
        dst.append(lin @ (np.array([cx, cy], np.float64) + shift) + t)
        peaks.append(result[2])
    if not src:
        return np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0)
    return np.array(src, np.float64), np.array(dst, np.float64), np.array(peaks)
