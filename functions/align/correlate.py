"""Patch correlation: where points of one section lie in another, given a model of the pair.

For each centre c of section a, a template around c is compared by normalised cross-correlation
(NCC) with section b resampled through the current model M (a -> b) around c, so the two patches
differ only by the model's local error and by what differs between the sections. The NCC peak,
fitted with a paraboloid, gives where c lies in b to a fraction of a pixel. NCC ignores brightness
and contrast, and its peak says whether the patches look alike at all.

Real neighbouring sections differ: the peak of a good patch pair is 0.3-0.6 (0.9+ for a section
and a re-exposure of it), and the points scatter by a few pixels around any smooth model, because
membranes run obliquely through the 40-50 nm between sections. A patch whose peak is flat in one
direction (a straight membrane) is dropped: it places the point across the membrane only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_SHARPNESS = 0.1       # ratio of the peak's principal curvatures; below it, an edge


@dataclass
class Measured:
    src: np.ndarray       # (n, 2) centres in a, level px
    dst: np.ndarray       # (n, 2) where they lie in b, level px
    peak: np.ndarray      # (n,) NCC at the peak

    def __len__(self) -> int:
        return len(self.src)

    def take(self, keep) -> "Measured":
        return Measured(self.src[keep], self.dst[keep], self.peak[keep])


def grid(shape: tuple[int, int], model: np.ndarray, other: tuple[int, int], radius: int, margin: int,
         spacing: int) -> np.ndarray:
    """Centres every `spacing` px over section a (`shape`) whose whole search window lies inside
    both a and, through `model`, b (`other`). (n, 2) x, y."""
    edge = radius + margin + 1
    h, w = shape
    # Centred in the section: the same border on both sides.
    xs = np.arange(edge + ((w - 2 * edge - 1) % spacing) // 2, w - edge, spacing, dtype=np.float64)
    ys = np.arange(edge + ((h - 2 * edge - 1) % spacing) // 2, h - edge, spacing, dtype=np.float64)
    if not len(xs) or not len(ys):
        return np.zeros((0, 2))
    points = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    lin, t = model[:, :2], model[:, 2]
    # The window's corners, mapped into b, must lie inside b.
    reach = (radius + margin) * (np.abs(lin).sum(axis=1))
    mapped = points @ lin.T + t
    hb, wb = other
    inside = ((mapped[:, 0] - reach[0] >= 0) & (mapped[:, 0] + reach[0] <= wb - 1)
              & (mapped[:, 1] - reach[1] >= 0) & (mapped[:, 1] + reach[1] <= hb - 1))
    return points[inside]


def _peak(scores: np.ndarray) -> tuple[float, float, float, float] | None:
    """Sub-pixel (dx, dy) of the maximum from the map's centre, its value and the ratio of its
    principal curvatures; None when the maximum is on the border (outside the search)."""
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    if not (0 < i < scores.shape[0] - 1 and 0 < j < scores.shape[1] - 1):
        return None
    s = scores[i - 1:i + 2, j - 1:j + 2].astype(np.float64)
    c = s[1, 1]
    cxx, cyy = s[1, 0] - 2 * c + s[1, 2], s[0, 1] - 2 * c + s[2, 1]
    cxy = (s[2, 2] - s[2, 0] - s[0, 2] + s[0, 0]) / 4
    hessian = np.array([[cxx, cxy], [cxy, cyy]])
    curvatures = np.linalg.eigvalsh(hessian)        # both negative at a true peak
    if curvatures[1] >= 0:
        return None
    step = -np.linalg.solve(hessian, [(s[1, 2] - s[1, 0]) / 2, (s[2, 1] - s[0, 1]) / 2])
    step = np.clip(step, -1, 1)
    m = scores.shape[0] // 2
    return j - m + step[0], i - m + step[1], float(c), float(curvatures[1] / curvatures[0])


def measure(a: np.ndarray, b: np.ndarray, model: np.ndarray, centres: np.ndarray, radius: int, margin: int
            ) -> Measured:
    """Correspondences near `centres` (points of a), searched within `margin` px of where `model`
    (a -> b) puts them."""
    import cv2
    side = 2 * (radius + margin) + 1
    lin, t = np.asarray(model, np.float64)[:, :2], np.asarray(model, np.float64)[:, 2]
    src, dst, peaks = [], [], []
    for cx, cy in np.rint(centres).astype(int):
        template = a[cy - radius:cy + radius + 1, cx - radius:cx + radius + 1].astype(np.float32)
        origin = np.array([cx, cy], np.float64) - (radius + margin)
        warp = np.hstack([lin, (lin @ origin + t)[:, None]])
        window = cv2.warpAffine(b, warp, (side, side), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        if template.std() < 1e-6 or window.std() < 1e-6:
            continue
        found = _peak(cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED))
        if found is None or found[3] < MIN_SHARPNESS:
            continue
        src.append((cx, cy))
        dst.append(lin @ (np.array([cx, cy], np.float64) + found[:2]) + t)
        peaks.append(found[2])
    if not src:
        return Measured(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0))
    return Measured(np.array(src, np.float64), np.array(dst, np.float64), np.array(peaks))
