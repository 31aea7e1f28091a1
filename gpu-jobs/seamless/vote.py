"""Vector voting: one field per section from every pair field, with outliers voted out.

Each section z was compared with its `vote` predecessors: pair field P(z, w) says where section z
must be sampled to land on section w. To first order in the (small, smooth) fields,

    D_z - D_w = P(z, w)            for every pair (z, w), w = z-1 .. z-vote

so with vote >= 2 every section's field is over-determined by several neighbours, and a pair that
disagrees with what the others imply (a fold, a tear or dirt in one section makes all the pairs
touching it wrong there, differently for each) can be found and dropped. Per pixel, this solves

    min  sum_pairs rho(|D_z - D_w - P(z, w)|) + PRIOR * sum_z |D_z|^2

in three steps. (1) Loops: pairs (z, z-a), (z-a, z-b), (z, z-b) must add up; a damaged section
breaks every loop through its pairs while the pairs bridging it still close loops elsewhere, so
each pair starts with a weight for the share of its loops that close (this is what tells a
bridge from the damage; with vote 2 a damaged section ties with its one bridge, hence the
default of 3). (2) Cauchy reweighting with a kernel halving down to the unit of doubt: NOISE
times the median disagreement left (the estimator's own noise), at least `floor`. (3) Votes
still off by more than DISCARD units are discarded and the rest solved exactly. PRIOR trusts
the affine for what pair fields cannot see (a warp shared by the whole stack), keeps a section
whose every vote was discarded at its affine there, and makes a pair's influence fade within a
few tens of sections, which is what lets the stage solve the stack in overlapping z blocks.

The solve is per pixel but vectorised over pixels: the normal equations of one pixel are a
banded (bandwidth `vote`) positive-definite system in z, factorised by a banded Cholesky that runs
its O(Z vote^2) loop over whole arrays of pixels.
"""
from __future__ import annotations

import numpy as np

PRIOR = 0.05
DISCARD = 3.0
NOISE = 4.0
ITERATIONS = 10


def consensus(pairs: np.ndarray, valid: np.ndarray, floor: float, prior: float = PRIOR,
              iterations: int = ITERATIONS) -> tuple[np.ndarray, np.ndarray, float]:
    """`pairs` (Z, K, n, 2): pairs[z, k-1] is P(z, z-k) at n pixels; `valid` (Z, K) says which
    pairs exist (non-finite values are treated as missing too). `floor` is the least
    disagreement, in the fields' units, that counts as one unit of doubt. Returns the fields D
    (Z, n, 2), which votes were kept (Z, K, n) and the unit of doubt used."""
    z_count, k_count, n = pairs.shape[:3]
    finite = np.isfinite(pairs).all(axis=-1)
    present = finite & valid[:, :, None]
    for k in range(1, k_count + 1):
        present[:k, k - 1] = False            # z - k would be before the block
    data = np.where(present[..., None], pairs, 0.0).astype(np.float64)
    # First vote: a pair is trusted in proportion to the loops through it that close. Pairs
    # (z, z-a), (z-a, z-b) and (z, z-b) must add up; a damaged section breaks every loop through
    # any of its pairs, while a pair bridging it still closes loops with undamaged sections.
    good, total, typical = _loops(data, present, floor)
    limit = max(floor, NOISE * typical)
    weights = np.where(total > 0, (good + 0.5) / (total + 1.0), 1.0) * present
    fields = _solve(data, weights, prior)
    # Then Cauchy weights with a kernel halving from a few units down to `floor` (graduated
    # non-convexity: it walks toward the consensus rather than locking onto a wrong one).
    width = 4 * limit
    for _ in range(iterations):
        fields = _solve(data, _cauchy(fields, data, present, width), prior)
        if width == floor:
            break
        width = max(floor, width / 2)
    # The unit of doubt: a multiple of the typical disagreement left (the estimator's own noise:
    # the consensus follows the inliers, so outliers barely move this median), at least `floor`.
    typical = float(np.median(_residuals(fields, data)[present])) if present.any() else 0.0
    scale = max(floor, NOISE * typical)
    if scale > floor:
        fields = _solve(data, _cauchy(fields, data, present, scale), prior)
    kept = present & (_residuals(fields, data) < DISCARD * scale)
    fields = _solve(data, kept.astype(np.float64), prior)
    return fields.astype(np.float32), kept, scale


def _loops(data: np.ndarray, present: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray, float]:
    """For every pair, how many of the loops through it close, out of how many; and the median
    loop closure (the estimator's noise, seen without any solve)."""
    z_count, k_count, n = present.shape
    closures = []
    for a in range(1, k_count):
        for b in range(a + 1, k_count + 1):
            if b >= z_count:
                continue
            # loop at z: (z, z-a) + (z-a, z-b) - (z, z-b), for z = b .. Z-1
            ok = present[b:, a - 1] & present[b - a:z_count - a, b - a - 1] & present[b:, b - 1]
            c = np.linalg.norm(data[b:, a - 1] + data[b - a:z_count - a, b - a - 1] - data[b:, b - 1], axis=-1)
            closures.append((a, b, ok, c))
    values = np.concatenate([c[ok] for _, _, ok, c in closures]) if closures else np.zeros(0)
    typical = float(np.median(values)) if values.size else 0.0
    good, total = np.zeros(present.shape), np.zeros(present.shape)
    limit = max(floor, DISCARD * typical)
    for a, b, ok, c in closures:
        closed = ok & (c < limit)
        for zs, k in ((slice(b, None), a), (slice(b - a, z_count - a), b - a), (slice(b, None), b)):
            total[zs, k - 1] += ok
            good[zs, k - 1] += closed
    return good, total, typical


def _cauchy(fields: np.ndarray, data: np.ndarray, present: np.ndarray, scale: float) -> np.ndarray:
    return present / (1.0 + (_residuals(fields, data) / scale) ** 2)


def _residuals(fields: np.ndarray, data: np.ndarray) -> np.ndarray:
    z_count, k_count = data.shape[:2]
    r = np.zeros(data.shape[:3])
    for k in range(1, min(k_count, z_count - 1) + 1):
        diff = fields[k:] - fields[:-k] - data[k:, k - 1]
        r[k:, k - 1] = np.sqrt((diff ** 2).sum(axis=-1))
    return r


def _solve(data: np.ndarray, weights: np.ndarray, prior: float) -> np.ndarray:
    """Minimise sum w |D_z - D_{z-k} - data[z, k-1]|^2 + prior sum |D_z|^2 for every pixel."""
    z_count, k_count, n = weights.shape
    band = np.zeros((z_count, k_count + 1, n))      # band[i, j] = A[i, i-j]
    rhs = np.zeros((z_count, n, 2))
    band[:, 0] = prior
    for k in range(1, min(k_count, z_count - 1) + 1):
        w = weights[k:, k - 1]                      # pairs (z, z-k) for z = k..Z-1
        band[k:, 0] += w
        band[:-k, 0] += w
        band[k:, k] -= w
        wp = w[..., None] * data[k:, k - 1]
        rhs[k:] += wp
        rhs[:-k] -= wp
    return _banded_cholesky_solve(band, rhs)


def _banded_cholesky_solve(band: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve A x = rhs per pixel, A symmetric positive definite given by its lower band."""
    z_count, p1, n = band.shape
    p = p1 - 1
    low = np.zeros_like(band)                       # low[i, j] = L[i, i-j]
    for i in range(z_count):
        for j in range(min(i, p), -1, -1):
            c = i - j
            s = band[i, j].copy()
            for t in range(1, p + 1):               # sum over m = c - t with m >= i - p
                m = c - t
                if m < 0 or i - m > p:
                    break
                s -= low[i, i - m] * low[c, t]
            low[i, j] = np.sqrt(s) if j == 0 else s / low[c, 0]
    y = np.zeros_like(rhs)
    for i in range(z_count):
        s = rhs[i].copy()
        for j in range(1, min(i, p) + 1):
            s -= low[i, j][:, None] * y[i - j]
        y[i] = s / low[i, 0][:, None]
    x = np.zeros_like(rhs)
    for i in range(z_count - 1, -1, -1):
        s = y[i].copy()
        for j in range(1, min(z_count - 1 - i, p) + 1):
            s -= low[i + j, j][:, None] * x[i + j]
        x[i] = s / low[i, 0][:, None]
    return x
