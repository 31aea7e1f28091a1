"""The pyramid's science: successive mean downsampling of one block, and the 8-bit view of 16-bit
data for the JPEG layer. Pure functions of arrays."""
from __future__ import annotations

import numpy as np

from emcore.volume import downsample


def downsample_chain(block: np.ndarray, steps: list[tuple[int, int, int]]) -> list[np.ndarray]:
    """`block` (x, y, z) reduced by each step in turn: [block after steps[0], after steps[1], ...].
    Each level is computed from the previous one, as the whole-volume pyramid is."""
    levels, current = [], block
    for step in steps:
        current = downsample(current, step, "mean")
        levels.append(current)
    return levels


def to_uint8(array: np.ndarray, window: list[int] | None) -> np.ndarray:
    """The JPEG layer's samples: uint8 unchanged; uint16 mapped linearly from `window` (default the
    full range) to 0..255, rounded, clipped."""
    if array.dtype == np.uint8:
        return array
    low, high = window or (0, 65535)
    scaled = (array.astype(np.float32) - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
