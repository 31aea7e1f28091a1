"""The patch-correlation estimator: displacements measured where the tissue says so, and only there.

Optical flow (flow.py) finds a displacement for every pixel, so on real serial sections it also
follows what genuinely differs between neighbouring 50 nm sections (membranes that move, appear
and vanish), and makes a real stack less continuous (docs/align.md). Here, as in SOFIMA and
FEABAS, a displacement is measured only at the centres of a grid of templates: each template of
the target is found in the source by normalized cross-correlation within `search` pixels, with a
sub-pixel peak. A measurement is kept only when the template has contrast, its peak is strong,
and it agrees with its neighbours' median; the kept ones are then interpolated into a smooth
field, and nothing is invented where no template found its match (the field is 0 there, and the
section keeps its affine).
"""
from __future__ import annotations

import warnings

import numpy as np

# Set on the real-data elastic and identity cases (bench.align_real, docs/align.md).
MIN_PEAK = 0.3           # normalized cross-correlation a kept match must reach
MIN_CONTRAST = 4.0       # grey-level standard deviation a template needs to be matched at all
OUTLIER_PX = 2.0         # a match farther than this from its neighbours' median is dropped


class CorrelationEstimator:
    """Pull field d with source(p + d(p)) ~ target(p) (the estimator interface, flow.py) from
    templates of `template` pixels on a grid `template / 2` apart, each searched within `search`
    pixels."""

    name = "correlation"

    def __init__(self, template: int = 48, search: int = 8):
        self.template, self.search = template, search

    def __call__(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        rows, cols = target.shape
        if min(rows, cols) < self.template + 2 * self.search:
            return np.zeros((rows, cols, 2), np.float32)
        centres_y, centres_x, shifts = self.matches(source, target)
        return dense(shifts, centres_y, centres_x, (rows, cols))

    def matches(self, source: np.ndarray, target: np.ndarray):
        """(grid rows' centres, grid columns' centres, shifts (gy, gx, 2) as (dx, dy), NaN where
        no trustworthy match)."""
        import cv2
        t, s = self.template, self.search
        half = t // 2
        step = max(1, half)
        rows, cols = target.shape
        ys = np.arange(s + half, rows - s - half + 1, step)
        xs = np.arange(s + half, cols - s - half + 1, step)
        source = np.asarray(source, np.float32)
        target = np.asarray(target, np.float32)
        shifts = np.full((len(ys), len(xs), 2), np.nan, np.float32)
        for i, cy in enumerate(ys):
            for j, cx in enumerate(xs):
                patch = target[cy - half:cy - half + t, cx - half:cx - half + t]
                if patch.std() < MIN_CONTRAST:
                    continue
                window = source[cy - half - s:cy - half + t + s, cx - half - s:cx - half + t + s]
                score = cv2.matchTemplate(window, patch, cv2.TM_CCOEFF_NORMED)
                _, peak, _, (px, py) = cv2.minMaxLoc(score)
                if peak < MIN_PEAK or not (0 < px < score.shape[1] - 1 and 0 < py < score.shape[0] - 1):
                    continue   # weak, or on the search window's edge: the true match may lie beyond it
                shifts[i, j] = (px - s + _vertex(score[py, px - 1:px + 2]),
                                py - s + _vertex(score[py - 1:py + 2, px]))
        return ys, xs, consistent(shifts)


def _vertex(three: np.ndarray) -> float:
    """Sub-pixel offset of a parabola's vertex through three samples around a maximum."""
    left, centre, right = (float(v) for v in three)
    curvature = left - 2 * centre + right
    return 0.0 if curvature >= 0 else float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))


def consistent(shifts: np.ndarray) -> np.ndarray:
    """The shifts with those farther than OUTLIER_PX from the median of their (up to 8) kept
    neighbours dropped (NaN); a match with no kept neighbour is dropped too: nothing confirms it."""
    gy, gx = shifts.shape[:2]
    padded = np.full((gy + 2, gx + 2, 2), np.nan, np.float32)
    padded[1:-1, 1:-1] = shifts
    around = np.stack([padded[1 + dy:gy + 1 + dy, 1 + dx:gx + 1 + dx]
                       for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # all-NaN neighbourhoods: dropped below
        median = np.nanmedian(around, axis=0)
    deviation = np.linalg.norm(shifts - median, axis=-1)
    out = shifts.copy()
    out[~(deviation <= OUTLIER_PX)] = np.nan
    return out


def dense(shifts: np.ndarray, ys: np.ndarray, xs: np.ndarray, shape) -> np.ndarray:
    """A field over `shape` from grid shifts: missing ones filled by normalized convolution (the
    weighted mean of the kept ones nearby, 0 where none is near), then bilinear between the grid's
    centres, constant beyond them."""
    from scipy.ndimage import gaussian_filter, map_coordinates
    kept = np.isfinite(shifts[..., 0])
    values = np.where(kept[..., None], shifts, 0.0).astype(np.float64)
    weight = gaussian_filter(kept.astype(np.float64), 1.0, mode="constant")
    filled = np.stack([gaussian_filter(values[..., c], 1.0, mode="constant") for c in range(2)], -1)
    grid = np.where(kept[..., None], values, filled / np.maximum(weight, 1e-6)[..., None])
    grid[(~kept) & (weight < 0.05)] = 0.0     # no measurement within a few grid steps: keep the affine
    rows, cols = shape
    step_y = (ys[-1] - ys[0]) / (len(ys) - 1) if len(ys) > 1 else 1.0
    step_x = (xs[-1] - xs[0]) / (len(xs) - 1) if len(xs) > 1 else 1.0
    gy = np.clip((np.arange(rows) - ys[0]) / step_y, 0, len(ys) - 1)
    gx = np.clip((np.arange(cols) - xs[0]) / step_x, 0, len(xs) - 1)
    coords = np.meshgrid(gy, gx, indexing="ij")
    out = np.empty((rows, cols, 2), np.float32)
    for c in range(2):
        out[..., c] = map_coordinates(grid[..., c], coords, order=1, mode="nearest")
    return out
