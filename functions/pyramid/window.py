"""The 8-bit view of the data that the JPEG layer stores."""
from __future__ import annotations

import numpy as np


def from_levels(records: list[dict]) -> list[int]:
    """The window of 16-bit sections from their levels (emcore/levelstore.py): the lowest low and
    the highest high level, so no measured section loses more than its own tails; the full range
    for sections render stretched to it, or when nothing was measured."""
    if not records or any(r["stretched"] for r in records):
        return [0, 65535]
    low, high = min(r["levels"][0] for r in records), max(r["levels"][1] for r in records)
    return [low, high] if high > low else [low, low + 1] if low < 65535 else [65534, 65535]


def to_uint8(array: np.ndarray, window: list[int] | None) -> np.ndarray:
    """uint8 unchanged; uint16 mapped linearly from `window` (default the full range) to 0..255,
    rounded, clipped."""
    if array.dtype == np.uint8:
        return array
    low, high = window or (0, 65535)
    scaled = (array.astype(np.float32) - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
