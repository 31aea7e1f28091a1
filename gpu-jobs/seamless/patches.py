"""Cutting an image into overlapping patches and blending per-patch results without seams.

A model sees only its patch, so near a patch border its output lacks context (and convolution
padding distorts it). Patches overlap by exactly `overlap` pixels: the image is reflected at its
far edges up to a whole number of strides, rather than letting a last patch sit flush with a
different overlap. Each patch's result is weighted by a window that is 0 for the `trim` pixels
next to a border it shares with a neighbour, rises as sin^2 across the rest of the overlap and is
1 elsewhere; the neighbour's window is its mirror image, so across every overlap the two weights
sum to exactly 1 (a partition of unity) and the blended field is continuous. At the image's own
edges there is no neighbour and the weight stays 1 to the edge.

Overlaps are below half a patch (the options check it), so at most two patches share a pixel along
an axis and the 2-D window, the product of the 1-D ones, is a partition of unity too.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def layout(length: int, patch: int, overlap: int) -> tuple[list[int], int]:
    """(patch origins, padded length) along one axis: n patches, stride patch - overlap."""
    stride = patch - overlap
    n = 1 if length <= patch else 1 + -(-(length - patch) // stride)
    return [i * stride for i in range(n)], patch + (n - 1) * stride


def ramp(overlap: int, trim: int) -> np.ndarray:
    """0 over the first `trim` samples, sin^2 up to 1, 1 over the last `trim`: reversed, it is
    1 minus itself, so a patch and its neighbour sum to 1 across their overlap."""
    trim = min(trim, max(0, (overlap - 1) // 2))
    t = (np.arange(overlap) - trim + 0.5) / (overlap - 2 * trim)
    return np.sin(0.5 * np.pi * np.clip(t, 0.0, 1.0)) ** 2


def windows(count: int, patch: int, overlap: int, trim: int) -> list[np.ndarray]:
    """The 1-D weight of each of `count` patches along an axis."""
    out = []
    for i in range(count):
        w = np.ones(patch, np.float64)
        if overlap:
            if i > 0:
                w[:overlap] = ramp(overlap, trim)
            if i + 1 < count:
                w[patch - overlap:] *= ramp(overlap, trim)[::-1]
        out.append(w)
    return out


def blend(images: tuple[np.ndarray, ...], patch: int, overlap: int,
          run: Callable[[list[tuple[np.ndarray, ...]]], list[np.ndarray]],
          channels: int = 2, trim: int | None = None, batch: int = 4) -> np.ndarray:
    """Apply `run` (a batch of per-patch input tuples -> list of (patch, patch, channels) results)
    to every patch of the same-shaped 2-D `images`; blend into one (rows, cols, channels) float32
    array. `trim` defaults to a quarter of the overlap."""
    rows, cols = images[0].shape[:2]
    trim = overlap // 4 if trim is None else trim
    ys, prows = layout(rows, patch, overlap)
    xs, pcols = layout(cols, patch, overlap)
    padded = tuple(_pad(im, prows, pcols) for im in images)
    wy, wx = windows(len(ys), patch, overlap, trim), windows(len(xs), patch, overlap, trim)
    total = np.zeros((prows, pcols, channels), np.float64)
    order = [(i, j) for i in range(len(ys)) for j in range(len(xs))]
    for b in range(0, len(order), batch):
        group = order[b:b + batch]
        inputs = [tuple(im[ys[i]:ys[i] + patch, xs[j]:xs[j] + patch] for im in padded) for i, j in group]
        results = run(inputs)
        for (i, j), out in zip(group, results):
            if out.shape[:2] != (patch, patch):
                raise ValueError(f"the model returned a {out.shape[0]}x{out.shape[1]} field for a {patch}x{patch} patch")
            total[ys[i]:ys[i] + patch, xs[j]:xs[j] + patch] += out * np.outer(wy[i], wx[j])[:, :, None]
    # The windows are a partition of unity, so no division by the summed weight is needed.
    return total[:rows, :cols].astype(np.float32)


def _pad(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Reflect the image's far edges up to (rows, cols) (numpy reflects repeatedly if needed)."""
    widths = ((0, rows - image.shape[0]), (0, cols - image.shape[1])) + ((0, 0),) * (image.ndim - 2)
    return np.pad(image, widths, mode="reflect") if any(w[1] for w in widths) else image
