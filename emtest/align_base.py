"""The base the alignment cases are built on: the real sections re-registered by a method
independent of emctl's.

The real stack is published as aligned, but several consecutive pairs are not: sections 9-10 and
25-26 correlate at 0.10 and 0.13 as published, and at 0.47 and 0.53 once either emctl's pair
model or OpenCV's ECC is applied (those two agree to 1-2 px; the published alignment is 20-30 px
off there). A truth that is 30 px wrong would score a right answer as wrong, so the cases start
from this base instead:

  pairs   OpenCV's ECC (intensity-based, gradient ascent of the correlation: another family of
          method than emctl's patch correlation) fits an affine between sections z and z+1 and
          z and z+2, on copies blurred by BLUR px (the fine texture does not carry between sections)
  rigid   each pair's affine reduced to its closest rotation and translation (Procrustes over a
          grid): between 50 nm sections ECC also finds 2-7% stretches that are the tissue's
          oblique structures, not the sections' shape, and following them would bend the stack
          further with every section (a corner 100 px off after 30 sections)
  solve   one rotation and translation per section by plain least squares over all pairs' grid
          points (numpy), the mean section transform fixed to the identity (the published frame
          on average)

`base()[z]` is a 2x3 matrix taking real section z's pixels to base-frame pixels.
"""
from __future__ import annotations

import functools

import numpy as np

from emtest import realdata

BLUR = 3.0
REACH = 2


def ecc(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    """(W, correlation): the affine W with b(W p) ~ a(p), i.e. section a px -> section b px."""
    import cv2
    fa = cv2.GaussianBlur(a.astype(np.float32), (0, 0), BLUR)
    fb = cv2.GaussianBlur(b.astype(np.float32), (0, 0), BLUR)
    warp = np.eye(2, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 300, 1e-7)
    score, warp = cv2.findTransformECC(fa, fb, warp, cv2.MOTION_AFFINE, criteria, None, 5)
    return warp.astype(np.float64), float(score)


def procrustes(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The rotation and translation closest to mapping src to dst (least squares)."""
    cs, cd = src.mean(axis=0), dst.mean(axis=0)
    h = (src - cs).T @ (dst - cd)
    angle = np.arctan2(h[0, 1] - h[1, 0], h[0, 0] + h[1, 1])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.hstack([rot, (cd - rot @ cs)[:, None]])


def solve(pair_warps: dict[tuple[int, int], np.ndarray], count: int, shape: tuple[int, int]) -> list[np.ndarray]:
    """B_z minimising sum over pairs and grid points |B_w W p - B_z p|^2, with mean B_z = I."""
    h, w = shape
    g = np.stack(np.meshgrid(np.linspace(0, w - 1, 8), np.linspace(0, h - 1, 8)), -1).reshape(-1, 2)
    rows, rhs = [], []

    def design(points: np.ndarray, z: int, sign: float) -> np.ndarray:
        block = np.zeros((2 * len(points), 6 * count))
        for k in range(2):                                   # x rows, then y rows
            block[k::2, 6 * z + 3 * k:6 * z + 3 * k + 2] = sign * points
            block[k::2, 6 * z + 3 * k + 2] = sign
        return block

    for (z, v), warp in pair_warps.items():
        q = g @ warp[:, :2].T + warp[:, 2]
        warp = procrustes(g, q)
        q = g @ warp[:, :2].T + warp[:, 2]
        rows.append(design(q, v, 1.0) + design(g, z, -1.0))
        rhs.append(np.zeros(2 * len(g)))
    gauge = np.zeros((6, 6 * count))
    for j in range(6):
        gauge[j, j::6] = 1.0 / count
    rows.append(1e3 * gauge)
    rhs.append(1e3 * np.array([1.0, 0, 0, 0, 1.0, 0]))
    x, *_ = np.linalg.lstsq(np.concatenate(rows), np.concatenate(rhs), rcond=None)
    return [x[6 * z:6 * z + 6].reshape(2, 3) for z in range(count)]


@functools.lru_cache(maxsize=1)
def base() -> tuple[np.ndarray, ...]:
    sections = realdata.sections()
    warps = {}
    for z in range(len(sections)):
        for v in range(z + 1, min(len(sections), z + REACH + 1)):
            warps[(z, v)], _ = ecc(sections[z], sections[v])
    return tuple(solve(warps, len(sections), sections[0].shape))
