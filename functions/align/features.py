"""Finding and matching SIFT features on a working copy of a section.

The working copy is the section shrunk by an integer factor and contrast-normalised to 8 bits.
Shrinking bounds memory: OpenCV's SIFT doubles the image first and keeps its whole Gaussian and
difference-of-Gaussian pyramids in float32, about 240 bytes per input pixel (measured: a 2048 x
2048 copy peaks near 1 GB), so a full 8192 x 8192 section would need ~15 GB; at most WORK_SIDE
pixels a side it stays near 1 GB. Precision is recovered at full
resolution afterwards (refine.py). Normalising each section by its own percentiles makes features
insensitive to brightness and contrast changes between sections (SIFT's detector threshold is on
absolute contrast).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WORK_SIDE = 2048          # largest working-copy side; larger sections are shrunk further
MAX_FEATURES = 6000       # strongest features kept per section: bounds matching cost (n^2)
RATIO = 0.8               # Lowe's ratio test
MIN_CONTRAST = 1e-3       # of the sample range: below it a section is blank


@dataclass
class Features:
    points: np.ndarray        # (n, 2) float64, full-resolution pixel (x, y)
    descriptors: np.ndarray   # (n, 128) float32
    strength: np.ndarray      # (n,) detector response
    factor: int               # working-copy shrink factor
    shape: tuple[int, int]    # full-resolution (rows, cols)
    blank: bool               # no usable contrast at all

    def __len__(self) -> int:
        return len(self.points)


def working_factor(shape: tuple[int, int], requested: int = 1) -> int:
    """The shrink factor actually used: the requested one, or more if the section would exceed
    WORK_SIDE pixels a side."""
    return max(int(requested), int(np.ceil(max(shape) / WORK_SIDE)))


def working_copy(image: np.ndarray, factor: int) -> tuple[np.ndarray, bool]:
    """Shrunk (area average), 8-bit, stretched between the 0.5th and 99.5th percentiles.
    Returns (copy, blank)."""
    import cv2
    small = image
    if factor > 1:
        h, w = image.shape
        small = cv2.resize(image, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
    small = small.astype(np.float32)
    lo, hi = np.percentile(small[::4, ::4], (0.5, 99.5))
    top = 255.0 if image.dtype == np.uint8 else float(np.iinfo(image.dtype).max) if image.dtype.kind == "u" else 1.0
    if hi - lo <= MIN_CONTRAST * top:
        return np.zeros(small.shape, np.uint8), True
    small -= lo
    small *= 255.0 / (hi - lo)
    return np.clip(small, 0, 255).astype(np.uint8), False


def detect(image: np.ndarray, factor: int) -> Features:
    """SIFT features of a section at the working scale; positions in full-resolution pixels."""
    import cv2
    work, blank = working_copy(image, factor)
    points = np.zeros((0, 2))
    descriptors = np.zeros((0, 128), np.float32)
    strength = np.zeros(0)
    if not blank:
        sift = cv2.SIFT_create(nfeatures=MAX_FEATURES)
        keypoints, desc = sift.detectAndCompute(work, None)
        if keypoints:
            pts = np.array([k.pt for k in keypoints], np.float64)
            # A working pixel's centre (i + 0.5) covers full-resolution pixels i*f .. i*f + f - 1.
            points = (pts + 0.5) * factor - 0.5
            descriptors = desc
            strength = np.array([k.response for k in keypoints])
    return Features(points, descriptors, strength, factor, tuple(image.shape), blank)


def match(a: Features, b: Features, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Tentative correspondences: each feature of a to its nearest in b by descriptor, kept if it
    passes Lowe's ratio test and is mutual (a's feature is also the nearest to it among a's),
    which removes most many-to-one matches. Exact (brute force): squared distances come from one
    matrix product per block of rows, so both directions cost one pass and memory stays at
    block x len(b) floats. Returns index arrays (ia, ib)."""
    empty = (np.zeros(0, int), np.zeros(0, int))
    if len(a) < 2 or len(b) < 2:
        return empty
    da, db = a.descriptors.astype(np.float32), b.descriptors.astype(np.float32)
    nb = np.einsum("ij,ij->i", db, db)
    first = np.empty(len(da), np.int64)
    ratio_ok = np.empty(len(da), bool)
    best_in_a = np.full(len(db), np.inf, np.float32)        # per b: nearest a so far
    arg_in_a = np.zeros(len(db), np.int64)
    for lo in range(0, len(da), block):
        chunk = da[lo:lo + block]
        dist = nb[None, :] - 2.0 * (chunk @ db.T)
        dist += np.einsum("ij,ij->i", chunk, chunk)[:, None]
        np.maximum(dist, 0, out=dist)
        rows = np.arange(len(chunk))
        col = np.argmin(dist, axis=0)                       # b's nearest in this block of a
        val = dist[col, np.arange(len(db))]
        better = val < best_in_a
        best_in_a[better] = val[better]
        arg_in_a[better] = col[better] + lo
        nearest = np.argmin(dist, axis=1)
        d1 = dist[rows, nearest]
        dist[rows, nearest] = np.inf
        d2 = dist.min(axis=1)
        first[lo:lo + len(chunk)] = nearest
        # Lowe's ratio on distances, i.e. RATIO^2 on squared distances.
        ratio_ok[lo:lo + len(chunk)] = d1 < (RATIO ** 2) * d2
    ia = np.flatnonzero(ratio_ok)
    ib = first[ia]
    mutual = arg_in_a[ib] == ia
    return ia[mutual], ib[mutual]
