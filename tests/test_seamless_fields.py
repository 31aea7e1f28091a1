"""The seamless stage's pure science: field units and render composition, inversion, patch
windows, vector voting on synthetic pair fields, and the option checks."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from emcore import fields
from emcore.schema import ConfigError
from seamless import patches, vote
from seamless.options import OPTIONS

AFFINE = np.array([[0.99, -0.02, 7.5], [0.025, 1.01, -4.25]])


def image(rows=200, cols=240, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.standard_normal((rows, cols)).astype(np.float32), (0, 0), 3)
    return np.clip(128 + 60 * noise / noise.std(), 0, 255).astype(np.uint8)


def smooth_field(rows, cols, amplitude, seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.standard_normal((4, 4, 2)).astype(np.float32)
    f = cv2.resize(coarse, (cols, rows), interpolation=cv2.INTER_CUBIC)
    return f * (amplitude / np.abs(f).max())


def test_zero_field_renders_exactly_the_affine():
    im = image()
    frame = (210, 230)
    expected = cv2.warpAffine(im, AFFINE, (frame[1], frame[0]), flags=cv2.INTER_LINEAR)
    grid = fields.grid_shape(frame[1], frame[0], 2)
    out = fields.warp_with_field(im, AFFINE, np.zeros(grid + (2,), np.float32), frame, mip=2)
    # remap and warpAffine round sample positions to 1/32 pixel slightly differently
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1
    assert (out == expected).mean() > 0.99
    assert np.array_equal(fields.warp_with_field(im, AFFINE, None, frame, mip=2), expected)


def test_constant_field_is_a_shift_applied_before_the_inverse_affine():
    """out(f) = image(A^-1 (f + d)): the same as the affine with its translation reduced by d."""
    im = image()
    frame = (200, 240)
    d = np.array([2.5, -1.75])
    field = np.broadcast_to(d.astype(np.float32), fields.grid_shape(frame[1], frame[0], 1) + (2,)).copy()
    shifted = AFFINE.copy()
    shifted[:, 2] -= d
    expected = cv2.warpAffine(im, shifted, (frame[1], frame[0]), flags=cv2.INTER_LINEAR)
    out = fields.warp_with_field(im, AFFINE, field, frame, mip=1)
    assert np.abs(out.astype(int) - expected.astype(int))[2:-2, 2:-2].max() <= 1


def test_smooth_field_matches_a_direct_float64_resampling_in_strips(monkeypatch):
    """The mip grid's geometry (corner-aligned samples), the strips and the affine composition
    against map_coordinates evaluating A^-1 (f + D(f)) pixel by pixel."""
    monkeypatch.setattr(fields, "STRIP_ROWS", 48)           # several strips, seams included
    im = image(260, 250)
    frame, mip = (230, 250), 2
    grid = fields.grid_shape(frame[1], frame[0], mip)
    field = smooth_field(*grid, amplitude=4.0)
    out = fields.warp_with_field(im, AFFINE, field, frame, mip)
    s = 1 << mip
    fy, fx = np.mgrid[0:frame[0], 0:frame[1]].astype(np.float64)
    gy, gx = (fy + 0.5) / s - 0.5, (fx + 0.5) / s - 0.5         # frame pixel -> grid position
    d = np.stack([map_coordinates(field[..., c], [gy, gx], order=1, mode="nearest") for c in range(2)], -1)
    inv = cv2.invertAffineTransform(AFFINE)
    qx, qy = fx + d[..., 0], fy + d[..., 1]
    sx, sy = inv[0, 0] * qx + inv[0, 1] * qy + inv[0, 2], inv[1, 0] * qx + inv[1, 1] * qy + inv[1, 2]
    expected = map_coordinates(im.astype(np.float64), [sy, sx], order=1, mode="constant")
    inside = (sx > 1) & (sy > 1) & (sx < im.shape[1] - 2) & (sy < im.shape[0] - 2)
    assert np.abs(out - expected)[inside].max() < 1.5        # OpenCV interpolates at 1/32 pixel


def test_inverse_field_undoes_the_field_and_carries_points_into_the_frame():
    field = smooth_field(64, 80, amplitude=3.0)
    inverse = fields.invert(field)
    # e(p) + d(p + e(p)) = 0 is what the iteration solves; d(p) + e(p + d(p)) = 0 holds up to
    # the bilinear interpolation of a field this rough (wavelength ~20 grid pixels)
    assert np.abs(fields.compose(inverse, field)[4:-4, 4:-4]).max() < 2e-3
    assert np.abs(fields.compose(field, inverse)[4:-4, 4:-4]).max() < 2e-2
    # frame_points: f + D(f) = A p, with D on a mip-2 grid in scale-0 pixels
    mip, s = 2, 4
    grid_field = smooth_field(60, 70, amplitude=5.0, seed=3)
    points = np.random.default_rng(0).uniform(40, 200, (500, 2))
    f = fields.frame_points(points, AFFINE, grid_field, mip)
    d = fields.sample_points(grid_field, (f[:, 0] + 0.5) / s - 0.5, (f[:, 1] + 0.5) / s - 0.5)
    target = points @ AFFINE[:, :2].T + AFFINE[:, 2]
    assert np.abs(f + d - target).max() < 0.02


def test_mip_affine_maps_pixel_centres_consistently():
    for mip in (1, 3):
        s = 1 << mip
        am = fields.mip_affine(AFFINE, mip)
        p = np.array([[13.0, 7.0], [100.0, 50.0]])          # grid pixels of the section
        full = s * p + (s - 1) / 2                           # their centres at scale 0
        frame = full @ AFFINE[:, :2].T + AFFINE[:, 2]
        assert np.allclose((frame - (s - 1) / 2) / s, p @ am[:, :2].T + am[:, 2])


def test_patch_windows_are_a_partition_of_unity_with_zero_weight_at_shared_borders():
    for length, patch, overlap in [(1000, 256, 64), (257, 256, 64), (100, 40, 16), (30, 40, 8)]:
        starts, padded = patches.layout(length, patch, overlap)
        assert padded >= length and starts[-1] + patch == padded
        total = np.zeros(padded)
        for a, w in zip(starts, patches.windows(len(starts), patch, overlap, overlap // 4)):
            total[a:a + patch] += w
            if a > 0:
                assert w[:overlap // 4].max() == 0             # trimmed next to the shared border
        assert np.allclose(total, 1.0)


def test_vote_discards_a_damaged_sections_pairs_and_keeps_its_neighbours():
    """Section 5's pairs with all its neighbours are wrong (differently) over a third of the
    pixels, as around a fold; with vote 3 the other sections' fields do not move."""
    rng = np.random.default_rng(0)
    z_count, k_count, n = 12, 3, 2000
    truth = rng.normal(0, 3, (z_count, n, 2))
    pairs = np.full((z_count, k_count, n, 2), np.nan)
    for z in range(z_count):
        for k in range(1, min(z, k_count) + 1):
            pairs[z, k - 1] = truth[z] - truth[z - k] + rng.normal(0, 0.1, (n, 2))
    valid = np.ones((z_count, k_count), bool)
    clean, _, _ = vote.consensus(pairs, valid, floor=0.25)
    bad, damaged = pairs.copy(), 5
    hurt = slice(0, n // 3)
    for k in range(1, k_count + 1):
        bad[damaged, k - 1, hurt] += rng.normal(0, 8, (n // 3, 2))
        bad[damaged + k, k - 1, hurt] += rng.normal(0, 8, (n // 3, 2))
    voted, kept, _ = vote.consensus(bad, valid, floor=0.25)
    others = [z for z in range(z_count) if z != damaged]
    shift = (voted - clean)[others].mean(axis=0)              # a shift of the whole stack moves nothing
    moved = np.linalg.norm(voted - clean - shift, axis=-1)[others][:, hurt]
    assert np.percentile(moved, 99) < 0.5 and (moved > 1.0).mean() < 0.01
    assert kept[damaged, :, hurt].mean() < 0.2                # the damaged section's votes went
    assert kept[damaged + 1, 1:, hurt].mean() > 0.95          # the pairs bridging it stayed
    plain, _, _ = vote.consensus(bad, valid, floor=1e6)      # no voting: plain least squares
    dragged = np.linalg.norm(plain - clean - (plain - clean)[others].mean(axis=0), axis=-1)[others][:, hurt]
    assert np.percentile(dragged, 99) > 4 * np.percentile(moved, 99)


def test_vote_solves_consistent_fields_up_to_the_prior():
    rng = np.random.default_rng(1)
    truth = rng.normal(0, 2, (40, 50, 2))
    pairs = np.full((40, 2, 50, 2), np.nan)
    for z in range(40):
        for k in (1, 2):
            if z >= k:
                pairs[z, k - 1] = truth[z] - truth[z - k]
    fields_, kept, _ = vote.consensus(pairs, np.ones((40, 2), bool), floor=0.25)
    relative = np.diff(fields_, axis=0) - np.diff(truth, axis=0)
    assert np.abs(relative).max() < 0.25 and kept[2:].all()


def test_options():
    assert OPTIONS.validate({}) == {"estimator": "correlation", "model": None, "template": 48, "search": 8, "mip": 1,
                                    "patch": 1024, "overlap": 128, "vote": 3, "smoothness": 4.0}
    with pytest.raises(ConfigError, match="estimator: must be one of"):
        OPTIONS.validate({"estimator": "sift"})
    with pytest.raises(ConfigError, match="model: is only used by the 'onnx' estimator"):
        OPTIONS.validate({"estimator": "correlation", "model": "gs://b/m.onnx"})
    with pytest.raises(ConfigError, match="model: is required when estimator is 'onnx'"):
        OPTIONS.validate({"estimator": "onnx"})
    with pytest.raises(ConfigError, match="overlap: must be less than half of patch"):
        OPTIONS.validate({"patch": 256, "overlap": 128})
    assert OPTIONS.validate({"estimator": "onnx", "model": "gs://b/m.onnx"})["model"] == "gs://b/m.onnx/"
