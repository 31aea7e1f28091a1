"""Field arithmetic: what a stored field means and how render applies it. Pure numpy + OpenCV.

Convention (the one render relies on). A section's field D is a *pull* field in the global frame
made by the affine solve: the final image at frame pixel f is the section sampled at

    A^-1 (f + D(f))          (A: the 2x3 affine taking section pixels to frame pixels)

so D = 0 renders exactly what the affine alone renders, and affine and field together still
resample each section once. D is stored on the frame grid at `mip` (2**mip frame pixels per
sample, Neuroglancer's corner-aligned geometry: sample v covers frame pixels [v*s, (v+1)*s)) and
its values are in full-resolution (scale 0) frame pixels, whatever the mip. Arrays here are
(rows, cols, 2) with channel 0 = x, 1 = y, like OpenCV's flow.

Pull fields compose without inversion; the inverse (push) field is only needed to carry *points*
(annotations, correspondences) from a section into the aligned frame: `frame_points`.
"""
from __future__ import annotations

import numpy as np

STRIP_ROWS = 1024  # render remaps in strips: two float32 coordinate maps of a whole 16k section are 2 GB


def grid_shape(width: int, height: int, mip: int) -> tuple[int, int]:
    """(rows, cols) of the mip grid covering a width x height frame (edge samples partial)."""
    s = 1 << mip
    return -(-height // s), -(-width // s)


def mip_affine(affine, mip: int) -> np.ndarray:
    """The affine between section and frame expressed on both images shrunk by 2**mip.

    Pixel centres: full-resolution centre x = s*x_m + (s-1)/2, so conjugating by that map gives
    A_m = [L | (L c + t - c) / s] with c = (s-1)/2."""
    a = np.asarray(affine, np.float64)
    s = float(1 << mip)
    c = np.full(2, (s - 1) / 2)
    out = a.copy()
    out[:, 2] = (a[:, :2] @ c + a[:, 2] - c) / s
    return out


def upsample(field: np.ndarray, mip: int, shape: tuple[int, int]) -> np.ndarray:
    """A mip-grid field bilinearly interpolated to every pixel of a (rows, cols) frame.

    cv2.resize by exactly 2**mip maps output pixel centres to (i + 0.5)/s - 0.5 on the grid, the
    same corner-aligned geometry as the precomputed scales, so upsampling adds no shift."""
    import cv2
    if mip == 0:
        return np.ascontiguousarray(field[:shape[0], :shape[1]], np.float32)
    s = 1 << mip
    rows, cols = field.shape[:2]
    big = cv2.resize(np.ascontiguousarray(field, np.float32), (cols * s, rows * s), interpolation=cv2.INTER_LINEAR)
    return big[:shape[0], :shape[1]]


def sample(field: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of a (rows, cols, 2) field at float pixel positions (edge values beyond).
    Exact bilinear weights (scipy), not OpenCV's remap, which rounds positions to 1/32 pixel:
    fields are composed and inverted repeatedly, and that rounding would accumulate."""
    from scipy.ndimage import map_coordinates
    coords = [np.asarray(y, np.float64), np.asarray(x, np.float64)]
    return np.stack([map_coordinates(np.asarray(field[..., c], np.float64), coords, order=1, mode="nearest")
                     for c in range(field.shape[-1])], axis=-1).astype(np.float32)


def sample_points(field: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`sample` at positions of any shape (result: that shape + (2,))."""
    return sample(field, x, y)


def apply(image: np.ndarray, field: np.ndarray, border: int | None = None) -> np.ndarray:
    """out(p) = image(p + field(p)) on one grid, field in that grid's pixels (the estimators'
    working form; render uses `warp_with_field`)."""
    import cv2
    rows, cols = image.shape[:2]
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    mode = cv2.BORDER_REFLECT if border is None else cv2.BORDER_CONSTANT
    return cv2.remap(image, x + field[..., 0], y + field[..., 1], cv2.INTER_LINEAR, borderMode=mode,
                     borderValue=0 if border is None else border)


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The pull field of applying `inner`, then `outer` (same grid and units):
    apply(apply(I, inner), outer) = apply(I, compose(outer, inner)), i.e.
    c(p) = outer(p) + inner(p + outer(p))."""
    rows, cols = outer.shape[:2]
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    return outer + sample(inner, x + outer[..., 0], y + outer[..., 1])


def invert(field: np.ndarray, iterations: int = 50, tolerance: float = 1e-3) -> np.ndarray:
    """The inverse e of a pull field d on one grid: p + e(p) + d(p + e(p)) = p, by the fixed-point
    iteration e <- -d(p + e). It converges where the field's gradient is below 1 (no fold-over),
    which holds for the smooth fields of this stage; a few iterations reach 1e-3 px."""
    rows, cols = field.shape[:2]
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    inverse = -np.asarray(field, np.float32)
    for _ in range(iterations):
        nxt = -sample(field, x + inverse[..., 0], y + inverse[..., 1])
        change = float(np.abs(nxt - inverse).max()) if nxt.size else 0.0
        inverse = nxt
        if change < tolerance:
            break
    return inverse


def warp_with_field(image: np.ndarray, affine, field: np.ndarray | None, frame_shape: tuple[int, int],
                    mip: int) -> np.ndarray:
    """Render a section into the frame with its affine and field in one resampling:
    out(f) = image(A^-1 (f + D(f))); pixels from outside the section are 0. `field` is the stored
    (rows_m, cols_m, 2) mip-grid field in scale-0 pixels (None: the affine alone). Works for any
    sample type OpenCV remaps (uint8, uint16, float32)."""
    import cv2
    rows, cols = frame_shape
    inv = cv2.invertAffineTransform(np.asarray(affine, np.float64))
    if field is None:
        return cv2.warpAffine(image, np.asarray(affine, np.float64), (cols, rows), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    s = 1 << mip
    out = np.zeros((rows, cols), image.dtype)
    fx = np.arange(cols, dtype=np.float32)[None, :]
    a = inv.astype(np.float32)
    step = max(s, STRIP_ROWS // s * s)          # strips start on grid rows: no seam between strips
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        # One grid row either side: pixels near a strip's edge interpolate with the next grid row.
        g0, g1 = max(0, r0 // s - 1), min(field.shape[0], -(-r1 // s) + 1)
        d = upsample(field[g0:g1], mip, ((g1 - g0) * s, cols))[r0 - g0 * s:r1 - g0 * s]
        # float32 maps (what remap takes anyway): 0.004 px resolution up to 65536 px
        qx = d[..., 0] + fx
        qy = d[..., 1] + np.arange(r0, r1, dtype=np.float32)[:, None]
        mx = a[0, 0] * qx + a[0, 1] * qy + a[0, 2]
        my = a[1, 0] * qx + a[1, 1] * qy + a[1, 2]
        out[r0:r1] = cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out


def frame_points(points: np.ndarray, affine, field: np.ndarray | None, mip: int) -> np.ndarray:
    """Where section pixels (n, 2 as x, y) land in the rendered frame: q = A p, then f with
    f + D(f) = q, i.e. f = q + E(q) where E inverts D (on the mip grid, in scale-0 units)."""
    a = np.asarray(affine, np.float64)
    q = np.asarray(points, np.float64) @ a[:, :2].T + a[:, 2]
    if field is None:
        return q
    s = 1 << mip
    inverse = invert(field / s) * s          # invert in grid units: the iteration samples the grid
    g = (q + 0.5) / s - 0.5                  # frame pixel -> grid position
    return q + sample_points(inverse, g[:, 0], g[:, 1])
