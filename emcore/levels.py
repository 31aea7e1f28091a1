"""A section's levels: percentiles of its intensity histogram, measured on a regular sample of its
pixels, and the stretch that maps two of them to the full range of the sample type (what
igneous' LuminanceLevels and ContrastNormalization do to an existing volume, here done by the
render task to the section it has just decoded, before its one resampling). Pure numpy.

Percentiles follow numpy's `inverted_cdf` method: the smallest value v such that at least q % of
the sample is <= v. So they are sample values, and `np.percentile(sample, q,
method="inverted_cdf")` is the oracle.
"""
from __future__ import annotations

import math

import numpy as np

# Pixels a section's levels are measured on: every s-th row and column with s chosen so that at
# least this many remain (a 2048^2 section is measured whole, a 16384^2 one on every 8th pixel).
SAMPLE_PIXELS = 1 << 22
DEFAULT_PERCENTILES = (1.0, 99.0)


def sample(image: np.ndarray) -> np.ndarray:
    """The regular sample of `image` its levels are measured on."""
    step = max(1, math.isqrt(image.size // SAMPLE_PIXELS))
    return image[::step, ::step]


def histogram(values: np.ndarray) -> np.ndarray:
    """Counts of every value of the sample type (256 or 65536 bins)."""
    return np.bincount(values.ravel(), minlength=np.iinfo(values.dtype).max + 1)


def percentiles(counts: np.ndarray, qs) -> list[int]:
    """The values at percentiles `qs` (0..100) of the histogram, by the inverted CDF."""
    total = int(counts.sum())
    if total == 0:
        return [0 for _ in qs]
    cdf = np.cumsum(counts)
    # The smallest v with cdf[v] >= q/100 * total (and at least one sample at or below it).
    return [int(np.searchsorted(cdf, max(q / 100.0 * total, 1), side="left")) for q in qs]


def stretch(image: np.ndarray, low: int, high: int) -> np.ndarray:
    """`low` to 0 and `high` to the type's maximum, linearly, rounded and clipped; a section
    whose levels are one value (blank) is returned as it is."""
    if high <= low:
        return image
    top = np.iinfo(image.dtype).max
    values = np.arange(top + 1, dtype=np.float64)
    # (v - low) * top is exact in float64, so the quotient is rounded once and an exact .5 stays
    # one: ties go to even, as in numpy's own computation of the same stretch.
    table = np.clip(np.rint((values - low) * top / (high - low)), 0, top).astype(image.dtype)
    return table[image]
