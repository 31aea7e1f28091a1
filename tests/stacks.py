"""Small section stacks written as PNG files, for tests."""
from __future__ import annotations

import os

import numpy as np


def smooth_stack(width: int, height: int, sections: int, bits: int = 8, seed: int = 0) -> np.ndarray:
    """A (sections, rows, cols) stack with structure at several scales and noise."""
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(seed)
    top = 255 if bits == 8 else 4095
    base = gaussian_filter(rng.standard_normal((sections, height, width)), sigma=(1.5, 4, 4))
    base = (base - base.min()) / (np.ptp(base) or 1)
    noisy = base * 0.8 * top + rng.uniform(0, 0.2 * top, base.shape)
    return np.clip(np.rint(noisy), 0, top).astype(np.uint8 if bits == 8 else np.uint16)


def write_pngs(directory, stack: np.ndarray, pattern: str = "img%05d.png", first: int = 0) -> None:
    import cv2
    os.makedirs(directory, exist_ok=True)
    for i, section in enumerate(stack):
        assert cv2.imwrite(os.path.join(str(directory), pattern % (first + i)), section)


def as_xyz(stack: np.ndarray) -> np.ndarray:
    """(z, rows, cols) to the (x, y, z) order of precomputed volumes."""
    return np.ascontiguousarray(stack.transpose(2, 1, 0))
