"""The 8-bit view of the data that the JPEG layer stores."""
from __future__ import annotations

import numpy as np


def to_uint8(array: np.ndarray, window: list[int] | None) -> np.ndarray:
    """uint8 unchanged; uint16 mapped linearly from `window` (default the full range) to 0..255,
    rounded, clipped."""
    if array.dtype == np.uint8:
        return array
    low, high = window or (0, 65535)
    scaled = (array.astype(np.float32) - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
