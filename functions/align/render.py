"""Render: warp one section into the global frame (a single resampling) and hand it to the
pyramid as a z-slice of the tiles volume. Pure array functions first, I/O last."""
from __future__ import annotations

import numpy as np

IDENTITY = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def warp_section(image: np.ndarray, matrix, frame_shape: tuple[int, int], clahe: bool = False) -> np.ndarray:
    """Resample `image` (rows, cols) into a frame of `frame_shape` (rows, cols); `matrix` is the
    2x3 affine taking section pixel (x, y) to frame pixel (x, y). Pixels outside the section are 0."""
    import cv2
    if clahe:
        image = _clahe(image)
    if np.allclose(matrix, IDENTITY) and image.shape == frame_shape:
        return image
    return cv2.warpAffine(image, np.asarray(matrix, np.float64), (frame_shape[1], frame_shape[0]),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _clahe(image: np.ndarray) -> np.ndarray:
    import cv2
    tiles = max(1, min(image.shape) // 128)
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(tiles, tiles)).apply(image)
