"""The output frame: transforms for sections the solve could not place, and the bounding box that
becomes the rendered stack's size.
"""
from __future__ import annotations

import numpy as np

MAX_GROWTH = 2.0    # a frame more than twice the largest section (per axis) means a wild transform


def fill(matrices: dict[int, np.ndarray], sections: list[int]) -> dict[int, np.ndarray]:
    """Every section's transform: solved ones as they are, the others (blank, damaged) linearly
    interpolated between the nearest solved sections on either side (or copied from the only one),
    so that they land where their neighbours are. Identity if nothing was solved."""
    solved = sorted(matrices)
    out = {}
    for z in sections:
        if z in matrices:
            out[z] = np.asarray(matrices[z], np.float64)
            continue
        i = int(np.searchsorted(solved, z))
        below = solved[i - 1] if i > 0 else None
        above = solved[i] if i < len(solved) else None
        if below is None and above is None:
            out[z] = np.array([[1.0, 0, 0], [0, 1.0, 0]])
        elif below is None or above is None:
            out[z] = np.array(matrices[above if below is None else below], np.float64)
        else:
            t = (z - below) / (above - below)
            out[z] = (1 - t) * np.asarray(matrices[below]) + t * np.asarray(matrices[above])
    return out


def corners(shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    return np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64)


def bounding_box(matrices: dict[int, np.ndarray], shapes: dict[int, tuple[int, int]]) -> tuple[np.ndarray, tuple[int, int], bool]:
    """(origin, (width, height), clipped): the integer box holding every transformed section.
    Frame pixel = solved position - origin. A box beyond MAX_GROWTH x the largest section is
    clipped around the sections' median centre (and said so): one wild transform must not make
    every rendered section mostly empty."""
    pts = np.concatenate([corners(shapes[z]) @ np.asarray(m)[:, :2].T + np.asarray(m)[:, 2]
                          for z, m in matrices.items()])
    lo, hi = np.floor(pts.min(axis=0)), np.ceil(pts.max(axis=0))
    largest = np.array([max(s[1] for s in shapes.values()), max(s[0] for s in shapes.values())], np.float64)
    limit = np.ceil(largest * MAX_GROWTH)
    clipped = bool(np.any(hi - lo > limit))
    if clipped:
        centres = np.array([np.asarray(m)[:, :2] @ (np.array(shapes[z][::-1], np.float64) / 2) + np.asarray(m)[:, 2]
                            for z, m in matrices.items()])
        mid = np.median(centres, axis=0)
        size = np.minimum(hi - lo, limit)
        lo = np.maximum(lo, np.floor(mid - size / 2))
        hi = np.minimum(hi, lo + size)
    return lo, (int(hi[0] - lo[0]), int(hi[1] - lo[1])), clipped


def shifted(m: np.ndarray, origin: np.ndarray) -> np.ndarray:
    out = np.array(m, np.float64)
    out[:, 2] -= origin
    return out

