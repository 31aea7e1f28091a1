"""Matching one pair of sections, coarse to fine, and the pair's quality. Pure: arrays in, a
PairResult out.

  coarse   rotation and translation by exhaustive search (coarse.py)
  medium   a grid of patches correlated through the current model, an affine fitted robustly;
           twice, the second time with a search just wide enough for the scatter found

There is no finer level: correlating at full resolution (4 nm) was measured worse on real
sections, whose fine texture differs from one section to the next (docs/align.md). The pair's
correspondences (the inlier patch centres in z and where they lie in w, in section pixels) are
what the global solve uses. Status:

  ok      the correspondences agree on one model far beyond chance, and the model is precise
  poor    they agree, but the model's uncertainty at the section's corners is over
          MAX_UNCERTAINTY of its side (few or clustered patches): reported, not used
  failed  no model that the patches agree on: a blank or damaged section, no common tissue
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from functions.align import coarse, correlate, models
from functions.align.prepare import Prepared

RADIUS = 32               # template radius, working px (a 65 px template holds several compartments),
MIN_RADIUS = 12           # or an eighth of a small section's side, down to this
PATCHES_PER_SIDE = 14     # grid density: about 150-200 patches on a section
MIN_INLIERS = 12
MIN_AGREEMENT = 0.35      # share of the measured patches the model must explain
MIN_PEAK = 0.25           # median NCC of the agreeing patches: real neighbours give 0.4-0.65,
                          # z+2 pairs 0.25-0.5, unrelated tissue or noise 0.14-0.2
MAX_SPREAD = 0.35         # robust deviation of the inliers, as a share of the search margin
                          # (peaks spread uniformly over the window have about 0.58)
MAX_UNCERTAINTY = 0.01    # of the section's longer side: the model's standard error at its corners
                          # beyond which a pair is too vague to use (its weight in the solve
                          # already follows its precision; this only drops the hopeless)
WIDE_MARGIN = 16          # working px: the first medium pass's search at least, several times the
                          # scatter of true correspondences (1-2 working px at 8 nm between 50 nm
                          # sections, 4 across a missing one)
FINE_MARGIN = 4           # working px: the least search of the second pass
DUPLICATE_RESIDUAL = 0.05  # px RMS: real neighbouring sections never match this well
DUPLICATE_MOTION = 0.5    # px: largest displacement of a section corner under a duplicate's model
DUPLICATE_DIFFERENCE = 0.05  # std of the pixel difference, relative to the section's own std


@dataclass
class PairResult:
    z: int
    w: int
    status: str                       # ok | poor | failed
    model: str | None = None
    matrix: np.ndarray | None = None  # 2x3, section z -> section w pixels
    matches: int = 0                  # patches measured at the last level
    inliers: int = 0                  # correspondences kept
    residual: float | None = None     # RMS px of the kept correspondences under `matrix`
    uncertainty: float | None = None  # px: standard error of the model at the section's corners
    peak: float | None = None         # median NCC of the kept patches
    duplicate: bool = False
    reason: str = ""
    src: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))   # points in z
    dst: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))   # the same points in w

    def summary(self) -> dict:
        """The pair's quality as JSON (no correspondences)."""
        def r(v, n):
            return None if v is None else round(float(v), n)
        return {"z": self.z, "w": self.w, "status": self.status, "model": self.model,
                "matrix": None if self.matrix is None else np.round(self.matrix, 9).tolist(),
                "matches": self.matches, "inliers": self.inliers, "residual": r(self.residual, 4),
                "uncertainty": r(self.uncertainty, 4), "peak": r(self.peak, 4),
                "duplicate": self.duplicate, "reason": self.reason}


def to_section(factor: int) -> np.ndarray:
    """Level px -> section px: a working pixel's centre covers section pixels f i .. f i + f - 1."""
    return np.array([[factor, 0, (factor - 1) / 2], [0, factor, (factor - 1) / 2]], np.float64)


def between(model: np.ndarray, source: int, target: int) -> np.ndarray:
    """A pair model in level px of factor `source`, expressed in level px of factor `target`."""
    change = models.compose(models.invert(to_section(target)), to_section(source))
    return models.compose(change, models.compose(model, models.invert(change)))


def _radius(shape: tuple[int, int]) -> int:
    return int(np.clip(min(shape) // 8, MIN_RADIUS, RADIUS))


def _spacing(shape: tuple[int, int]) -> int:
    return max(_radius(shape) // 2, max(shape) // PATCHES_PER_SIDE)


def _fit(measured: correlate.Measured, cap: str, start: np.ndarray):
    """Robust fit up to `cap` (an affine needs 3 points, a minority of wrong patches is ignored)."""
    model = cap if len(measured) >= 3 * models.MINIMAL[cap] else "translation"
    return models.robust_fit(model, measured.src, measured.dst, start=None if model != cap else start,
                             weights=np.clip(measured.peak, 0.05, None))


def _level(a: np.ndarray, b: np.ndarray, model: np.ndarray, margin: int, cap: str):
    """One pass of patch correlation over a grid of a, and the robust fit of what it found."""
    radius = _radius(a.shape)
    centres = correlate.grid(a.shape, model, b.shape, radius, margin, _spacing(a.shape))
    measured = correlate.measure(a, b, model, centres, radius, margin)
    if len(measured) < MIN_INLIERS:
        return None, measured, None, None
    fitted, inliers, scale = _fit(measured, cap, model)
    return fitted, measured, inliers, scale


def match_pair(z: int, w: int, pa: Prepared, pb: Prepared, cap: str = "affine", max_rotation: float = 10.0
               ) -> PairResult:
    """Match section z (prepared `pa`) to section w (`pb`); both prepared at the same factors."""
    if pa.blank or pb.blank:
        which = " and ".join(str(s) for s, p in ((z, pa), (w, pb)) if p.blank)
        return PairResult(z, w, "failed", reason=f"section {which} is blank")
    cf, mf = pa.coarse.factor, pa.medium.factor
    located = coarse.locate(pa.coarse.image, pb.coarse.image, max_rotation)
    if located is None:
        return PairResult(z, w, "failed", reason="sections too small or flat to search")
    model = between(located.model, cf, mf)
    wide = max(WIDE_MARGIN, int(np.ceil(2.5 * cf / mf)))
    a, b = pa.medium.image, pb.medium.image
    fitted, measured, inliers, scale = _level(a, b, model, wide, cap)
    reason = _agreement(inliers, scale, wide, measured.peak) if fitted is not None else \
        f"{len(measured)} patches correlate (coarse peak {located.score:.2f})"
    if reason:
        return PairResult(z, w, "failed", matches=len(measured),
                          inliers=0 if inliers is None else int(inliers.sum()), reason=reason)
    # Again with a search just wide enough for the scatter the first pass found.
    narrow = int(np.clip(np.ceil(4 * scale), FINE_MARGIN, wide))
    again = _level(a, b, fitted, narrow, cap)
    model, measured, inliers, scale = again if again[0] is not None else (fitted, measured, inliers, scale)
    return _result(z, w, pa, pb, cap, model, measured, inliers, mf)


def _agreement(inliers: np.ndarray, scale: float, margin: int, peaks: np.ndarray) -> str:
    """Why the patches do not agree on one model, or '' if they do. Unrelated sections give
    peaks scattered over the whole search window: few patches near any model, with a spread
    close to the window's."""
    n = int(inliers.sum())
    if n < MIN_INLIERS:
        return f"{n} patches agree on a model (of {len(inliers)})"
    if n < MIN_AGREEMENT * len(inliers):
        return f"only {n} of {len(inliers)} patches agree on a model"
    if scale > MAX_SPREAD * margin:
        return f"the patches scatter by {scale:.1f} px in a {margin} px search"
    peak = float(np.median(peaks[inliers]))
    if peak < MIN_PEAK:
        return f"the patches barely correlate (median peak {peak:.2f})"
    return ""


def _result(z, w, pa: Prepared, pb: Prepared, cap, model, measured, inliers, factor) -> PairResult:
    to_px = to_section(factor)
    src = models.apply(to_px, measured.src[inliers])
    dst = models.apply(to_px, measured.dst[inliers])
    chosen, matrix, _ = models.select(src, dst, cap, pa.shape)
    residual = models.rms(matrix, src, dst)
    uncertainty = corner_uncertainty(src, residual, pa.shape)
    result = PairResult(z, w, "ok", chosen, matrix, len(measured), len(src), residual, uncertainty,
                        float(np.median(measured.peak[inliers])), src=src, dst=dst)
    result.duplicate = is_duplicate(pa.section, pb.section, matrix, residual)
    if uncertainty > max(2.0, MAX_UNCERTAINTY * max(pa.shape)):
        result.status, result.reason = "poor", f"model uncertain by {uncertainty:.2f} px at the corners"
    return result


def corner_uncertainty(src: np.ndarray, residual: float, shape: tuple[int, int]) -> float:
    """Standard error (px) of an affine fitted to `src` with residual RMS `residual`, at the
    worst corner of the section: residual/sqrt(2) per axis times sqrt(1/n + d' (n C)^-1 d)."""
    n = len(src)
    centre = src.mean(axis=0)
    cov = np.cov(src.T, bias=True) * n
    if n < 3 or abs(np.linalg.det(cov)) < 1e-9:
        return float("inf")
    h, w = shape
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) - centre
    leverage = 1 / n + np.einsum("ij,jk,ik->i", corners, np.linalg.inv(cov), corners)
    return float(residual / np.sqrt(2) * np.sqrt(leverage.max()))


def is_duplicate(a: np.ndarray, b: np.ndarray, matrix: np.ndarray, residual: float) -> bool:
    """The same image twice (a re-upload, a repeated acquisition): the model is the identity, the
    residual is ~0 and the pixels agree. Real neighbouring sections never meet all three."""
    if residual > DUPLICATE_RESIDUAL or a.shape != b.shape:
        return False
    h, w = a.shape
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64)
    if np.abs(models.apply(matrix, corners) - corners).max() > DUPLICATE_MOTION:
        return False
    step = max(1, max(a.shape) // 512)
    sa, sb = a[::step, ::step].astype(np.float32), b[::step, ::step].astype(np.float32)
    spread_a = sa.std()
    if spread_a == 0:
        return False
    # Compare after matching brightness and contrast: a duplicate may have been re-exposed.
    sb = (sb - sb.mean()) * (spread_a / max(sb.std(), 1e-6)) + sa.mean()
    return float((sa - sb).std() / spread_a) < DUPLICATE_DIFFERENCE
