"""2-D transform models between two sections: least-squares fits, RANSAC, and the rule that picks
the simplest model the matches support.

Every model is returned as a 2x3 float64 matrix M taking points of the first section (x, y) to the
second: q = M[:, :2] @ p + M[:, 2]. Points are (n, 2) arrays of (x, y) pixel positions.
"""
from __future__ import annotations

import numpy as np

MODELS = ("translation", "rigid", "affine")        # in order of freedom
PARAMETERS = {"translation": 2, "rigid": 3, "affine": 6}
MINIMAL = {"translation": 1, "rigid": 2, "affine": 3}

# Below this RMS residual (px) differences between models are measurement noise of the matcher
# itself, not deformation: it keeps the selection rule finite when residuals are ~0 (duplicates).
NOISE_FLOOR = 0.01


def apply(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ np.asarray(m)[:, :2].T + np.asarray(m)[:, 2]


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The matrix of `a` applied after `b`."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.hstack([a[:, :2] @ b[:, :2], (a[:, :2] @ b[:, 2] + a[:, 2])[:, None]])


def invert(m: np.ndarray) -> np.ndarray:
    lin = np.linalg.inv(np.asarray(m, np.float64)[:, :2])
    return np.hstack([lin, (-lin @ np.asarray(m)[:, 2])[:, None]])


def fit(model: str, src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted least-squares fit of `model` taking src to dst."""
    w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    cs, cd = w @ src, w @ dst
    s, d = src - cs, dst - cd
    if model == "translation":
        lin = np.eye(2)
    elif model == "rigid":
        # 2-D Procrustes: the rotation angle maximising sum w <R s, d>.
        h = (s * w[:, None]).T @ d
        angle = np.arctan2(h[0, 1] - h[1, 0], h[0, 0] + h[1, 1])
        c, n = np.cos(angle), np.sin(angle)
        lin = np.array([[c, -n], [n, c]])
    elif model == "affine":
        sw = s * w[:, None]
        cov = sw.T @ s
        if abs(np.linalg.det(cov)) < 1e-12 * max(1.0, np.trace(cov)) ** 2:
            raise np.linalg.LinAlgError("points are collinear")
        lin = np.linalg.solve(cov, sw.T @ d).T
    else:
        raise ValueError(f"unknown model {model!r}")
    return np.hstack([lin, (cd - lin @ cs)[:, None]])


def residuals(m: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    return np.linalg.norm(apply(m, src) - dst, axis=1)


def rms(m: np.ndarray, src: np.ndarray, dst: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.sum((apply(m, src) - dst) ** 2, axis=1)))) if len(src) else float("inf")


# -- RANSAC ---------------------------------------------------------------------------------------

def _hypotheses(model: str, src: np.ndarray, dst: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Models from minimal samples, vectorised: (k, 2, 3); degenerate samples give NaN."""
    s, d = src[samples], dst[samples]                                   # (k, m, 2)
    k = len(samples)
    out = np.full((k, 2, 3), np.nan)
    if model == "translation":
        out[:, :, :2] = np.eye(2)
        out[:, :, 2] = d[:, 0] - s[:, 0]
    elif model == "rigid":
        vs, vd = s[:, 1] - s[:, 0], d[:, 1] - d[:, 0]
        angle = np.arctan2(vd[:, 1], vd[:, 0]) - np.arctan2(vs[:, 1], vs[:, 0])
        c, n = np.cos(angle), np.sin(angle)
        lin = np.stack([np.stack([c, -n], -1), np.stack([n, c], -1)], 1)
        out[:, :, :2] = lin
        out[:, :, 2] = d[:, 0] - np.einsum("kij,kj->ki", lin, s[:, 0])
        out[np.linalg.norm(vs, axis=1) < 1e-6] = np.nan
    else:
        a = np.concatenate([s, np.ones((k, 3, 1))], axis=2)             # (k, 3, 3)
        ok = np.abs(np.linalg.det(a)) > 1e-6
        out[ok] = np.linalg.solve(a[ok], d[ok]).transpose(0, 2, 1)
    return out


def ransac(model: str, src: np.ndarray, dst: np.ndarray, threshold: float, seed: int = 0,
           max_iterations: int = 2000, confidence: float = 0.999) -> tuple[np.ndarray | None, np.ndarray]:
    """Robust fit: MSAC scoring of minimal-sample hypotheses, then least-squares refits on the
    inliers. Deterministic for a given seed (a task's retry must write the same bytes).
    Returns (matrix or None, boolean inlier mask)."""
    n, m = len(src), MINIMAL[model]
    none = (None, np.zeros(n, bool))
    if n < m:
        return none
    rng = np.random.default_rng(seed)
    best, best_cost, done, needed = None, np.inf, 0, max_iterations
    t2 = threshold ** 2
    while done < min(needed, max_iterations):
        batch = 128
        # A sample that repeats a point is degenerate and comes back as NaN from _hypotheses.
        samples = rng.integers(0, n, (batch, m))
        hyp = _hypotheses(model, src, dst, samples)
        good = ~np.isnan(hyp[:, 0, 0])
        if good.any():
            hyp = hyp[good]
            pred = np.einsum("kij,nj->kni", hyp[:, :, :2], src) + hyp[:, None, :, 2]
            err = np.sum((pred - dst) ** 2, axis=2)
            cost = np.minimum(err, t2).sum(axis=1)
            i = int(np.argmin(cost))
            if cost[i] < best_cost:
                best_cost, best = cost[i], hyp[i]
                ratio = max(np.mean(err[i] < t2), 1e-9)
                needed = int(np.ceil(np.log(1 - confidence) / np.log(max(1e-12, 1 - ratio ** m)))) if ratio < 1 else 1
        done += batch
    if best is None:
        return none
    mask = residuals(best, src, dst) < threshold
    for _ in range(3):                                                  # refit until stable
        if mask.sum() < m:
            return none
        try:
            refit = fit(model, src[mask], dst[mask])
        except np.linalg.LinAlgError:
            return none
        new = residuals(refit, src, dst) < threshold
        best = refit
        if np.array_equal(new, mask):
            break
        mask = new
    return best, mask


# -- model selection ------------------------------------------------------------------------------

def information(model: str, m: np.ndarray, src: np.ndarray, dst: np.ndarray) -> float:
    """Bayesian information criterion of a fit with 2n scalar residuals:
    2n ln(RSS / 2n) + k ln(2n). Lower is better."""
    n2 = 2 * len(src)
    rss = max(float(np.sum((apply(m, src) - dst) ** 2)), n2 * NOISE_FLOOR ** 2)
    return n2 * np.log(rss / n2) + PARAMETERS[model] * np.log(n2)


# A deformation that moves no point of the section by this much is not worth modelling (px).
MIN_EFFECT = 0.25


def select(src: np.ndarray, dst: np.ndarray, cap: str = "affine", extent: tuple[int, int] | None = None
           ) -> tuple[str, np.ndarray, dict[str, float]]:
    """The model, among those up to `cap`, that the matches support. A model with more freedom
    replaces a simpler one only if both hold:

    1. it has a lower BIC: it lowers the residual sum of squares by more than a factor
       (2n)^(dk/2n) (dk extra parameters, n matches); for 200 matches each extra parameter must
       explain about 1.3% of the residual, so noise does not buy freedom;
    2. it matters: somewhere on the section (its corners, `extent` = (rows, cols); else the
       matches' bounding box) it places points at least MIN_EFFECT px away from the simpler fit.

    Returns (model, matrix, RMS residual per model tried)."""
    if extent is not None:
        h, w = extent
        probe = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64)
    else:
        lo, hi = src.min(axis=0), src.max(axis=0)
        probe = np.array([lo, [hi[0], lo[1]], [lo[0], hi[1]], hi])
    chosen, scores = None, {}
    for model in MODELS[:MODELS.index(cap) + 1]:
        if len(src) < MINIMAL[model]:
            break
        try:
            m = fit(model, src, dst)
        except np.linalg.LinAlgError:
            continue
        scores[model] = rms(m, src, dst)
        bic = information(model, m, src, dst)
        if chosen is None:
            chosen = (model, m, bic)
            continue
        effect = np.abs(apply(m, probe) - apply(chosen[1], probe)).max()
        if bic < chosen[2] and effect >= MIN_EFFECT:
            chosen = (model, m, bic)
    if chosen is None:
        raise np.linalg.LinAlgError("too few matches for any model")
    return chosen[0], chosen[1], scores


# -- robust fit -----------------------------------------------------------------------------------

TUKEY = 4.685             # Tukey's biweight constant, in robust standard deviations
MIN_SCALE = 0.05          # px: floor of the robust scale (duplicates match to ~0)
CLIP = 3.0                # inliers lie within this many deviations (per axis) of the model


def robust_fit(model: str, src: np.ndarray, dst: np.ndarray, start: np.ndarray | None = None,
               weights: np.ndarray | None = None, iterations: int = 20) -> tuple[np.ndarray, np.ndarray, float]:
    """A fit that a minority of wrong correspondences does not bend, while the many right ones,
    scattered by a few pixels (real sections), all count.

    1. Iteratively reweighted least squares with Tukey's biweight, the scale re-estimated each
       round from the median residual distance (1.1774 s for isotropic Gaussian errors of
       deviation s per axis), from `start` (else a plain fit).
    2. Clipping: the inliers are the points within CLIP deviations; the deviation is re-measured
       on them alone (RMS per axis) and the model refitted, until the set is stable. Wrong
       correspondences spread over the whole search inflate the median; clipping measures the
       core of right ones.
    Returns (matrix, inlier mask, deviation per axis of the inliers in px)."""
    base = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
    m = fit(model, src, dst, base) if start is None else np.asarray(start, np.float64)
    scale = np.inf
    for _ in range(iterations):
        r = residuals(m, src, dst)
        scale = max(float(np.median(r)) / 1.1774, MIN_SCALE)
        u = np.clip(1 - (r / (TUKEY * scale)) ** 2, 0, None) ** 2
        if np.count_nonzero(u) < MINIMAL[model] + 1:
            break
        new = fit(model, src, dst, base * u)
        done = np.abs(new - m).max() < 1e-6
        m = new
        if done:
            break
    inliers = residuals(m, src, dst) < CLIP * scale
    for _ in range(iterations):
        if inliers.sum() < 2 * MINIMAL[model]:
            break
        m = fit(model, src[inliers], dst[inliers], base[inliers])
        r = residuals(m, src, dst)
        scale = max(float(np.sqrt(np.mean(r[inliers] ** 2) / 2)), MIN_SCALE)
        new = r < CLIP * scale
        if np.array_equal(new, inliers):
            break
        inliers = new
    return m, inliers, scale
