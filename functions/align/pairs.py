"""Matching one pair of sections: features -> ratio test -> RANSAC -> full-resolution refinement
-> model selection, and the pair's quality. Pure: arrays in, a PairResult out.

The pair's correspondences (not only its model) are what the global solve uses, so a pair is
kept as the refined inlier points in both sections. Its status says whether the solve may use it:

  ok      at least MIN_INLIERS inliers and an RMS residual under MAX_RESIDUAL pixels
  poor    a model was found but fails one of those (reported; not used)
  failed  no model (a blank or damaged section, or no overlap)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from functions.align import models
from functions.align.features import Features, match
from functions.align.refine import MAX_PATCHES, refine, spread

MIN_INLIERS = 12          # an affine has 6 parameters: twice as many matches as the minimum
MAX_RESIDUAL = 2.0        # px RMS at full resolution, under the pair's own model
RANSAC_THRESHOLD = 3.0    # px at the working scale (tentative SIFT matches)
REFINED_THRESHOLD = 1.5   # px at full resolution (refined matches)
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
    matches: int = 0                  # tentative (ratio test, mutual)
    inliers: int = 0                  # correspondences kept
    residual: float | None = None     # RMS px of the kept correspondences under `matrix`
    refined: bool = False             # correspondences from full-resolution refinement
    duplicate: bool = False
    reason: str = ""
    src: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))   # points in z
    dst: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))   # the same points in w

    def summary(self) -> dict:
        """The pair's quality as JSON (no correspondences)."""
        return {"z": self.z, "w": self.w, "status": self.status, "model": self.model,
                "matrix": None if self.matrix is None else np.round(self.matrix, 9).tolist(),
                "matches": self.matches, "inliers": self.inliers,
                "residual": None if self.residual is None else round(self.residual, 4),
                "refined": self.refined, "duplicate": self.duplicate, "reason": self.reason}


def match_pair(z: int, w: int, a: np.ndarray, b: np.ndarray, fa: Features, fb: Features,
               cap: str = "affine") -> PairResult:
    """Match section a (index z) to section b (index w), given their features."""
    if fa.blank or fb.blank:
        which = " and ".join(str(s) for s, f in ((z, fa), (w, fb)) if f.blank)
        return PairResult(z, w, "failed", reason=f"section {which} is blank")
    ia, ib = match(fa, fb)
    result = PairResult(z, w, "failed", matches=len(ia))
    if len(ia) < MIN_INLIERS:
        result.reason = f"{len(ia)} tentative matches"
        return result
    src, dst = fa.points[ia], fb.points[ib]
    coarse, mask = models.ransac(cap, src, dst, RANSAC_THRESHOLD * fa.factor, seed=z * 7919 + w)
    if coarse is None or mask.sum() < MIN_INLIERS:
        result.reason = f"{int(mask.sum())} RANSAC inliers of {len(ia)} matches"
        return result
    src, dst = src[mask], dst[mask]
    # Refine at full resolution around well-spread inliers; keep the SIFT matches if too few
    # patches survive (featureless tissue correlates poorly but may still have keypoints).
    keep = spread(src, fa.strength[ia][mask], fa.shape, MAX_PATCHES)
    rs, rd, _ = refine(a, b, coarse, src[keep], fa.factor)
    if len(rs) >= MIN_INLIERS:
        fine, fmask = models.ransac(cap, rs, rd, REFINED_THRESHOLD, seed=z * 7919 + w)
        if fine is not None and fmask.sum() >= MIN_INLIERS:
            src, dst, result.refined = rs[fmask], rd[fmask], True
    model, matrix, _ = models.select(src, dst, cap, a.shape)
    result.model, result.matrix = model, matrix
    result.inliers, result.residual = len(src), models.rms(matrix, src, dst)
    result.src, result.dst = src, dst
    result.duplicate = is_duplicate(a, b, matrix, result.residual)
    if result.residual > MAX_RESIDUAL:
        result.status, result.reason = "poor", f"residual {result.residual:.2f} px > {MAX_RESIDUAL}"
    else:
        result.status = "ok"
    return result


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


def section_task(z: int, image: np.ndarray, neighbours, cap: str = "affine", requested_factor: int = 1
                 ) -> tuple[dict, list[PairResult]]:
    """The pair wave's work for section z: its own features once, then each neighbour (w, image)
    from the iterable in turn, so that at most two full sections are held at a time.
    Returns (section z's info, the pairs' results)."""
    from functions.align.features import detect, working_factor
    cache: dict[int, Features] = {}

    def features_of_z(factor: int) -> Features:
        if factor not in cache:
            cache[factor] = detect(image, factor)
        return cache[factor]

    own = features_of_z(working_factor(image.shape, requested_factor))
    results = []
    for w, other in neighbours:
        factor = max(working_factor(image.shape, requested_factor), working_factor(other.shape, requested_factor))
        results.append(match_pair(z, w, image, other, features_of_z(factor), detect(other, factor), cap))
        del other
    info = {"z": z, "shape": list(image.shape), "features": len(own), "blank": own.blank,
            "factor": own.factor}
    return info, results
