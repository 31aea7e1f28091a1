"""Contrast normalization and the 16-bit window from measured levels, through the real local
pipeline, read back by CloudVolume and compared with numpy: each section stretched by its own
percentiles (numpy's inverted-CDF percentiles of the section), a dark and a bright copy of the
same tissue coming out alike, and the JPEG window of 16-bit data taken from the sections' levels."""
from __future__ import annotations

import json

import numpy as np
import pytest
from cloudvolume import CloudVolume

from emcore import levels
from emcore.job import load_job
from emcore.schema import ConfigError
from emcore.storage import open_storage
from orchestrator import engine
from orchestrator.local import LocalRunner
from tests.stacks import smooth_stack, write_pngs


def _run(tmp_path, stack, **pyramid):
    write_pngs(tmp_path / "raw", stack)
    job = load_job({"id": "levels", "source": str(tmp_path / "raw"), "maxz": len(stack) - 1,
                    "dest": str(tmp_path / "out"), "resolution": [4, 4, 40],
                    "stages": {"pyramid": {"block": [32, 32, 16], "chunk": [16, 16, 8], "raw": True, **pyramid}}})
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    LocalRunner(job, store, workers=0).run()
    return store


def _sections(store, layer: str) -> np.ndarray:
    """Scale 0 of `layer` as (z, rows, cols)."""
    return CloudVolume(store.url + layer, progress=False)[:, :, :][..., 0].transpose(2, 1, 0)


def _numpy_stretch(section: np.ndarray, qs) -> np.ndarray:
    low, high = np.percentile(section, qs, method="inverted_cdf")
    top = np.iinfo(section.dtype).max
    return np.clip(np.rint((section.astype(np.float64) - low) * top / (high - low)), 0, top).astype(section.dtype)


def _dark_and_bright(bits: int) -> np.ndarray:
    """Sections 0 and 1 show the same tissue, 2 and 3 the same: one of each pair dim and low
    (a third of the range), the other bright and high."""
    base = smooth_stack(80, 64, 2, bits).astype(np.float64)
    top = np.iinfo(np.uint8 if bits == 8 else np.uint16).max
    base /= base.max()
    dark, bright = base * 0.3 * top + 0.05 * top, base * 0.35 * top + 0.6 * top
    dtype = np.uint8 if bits == 8 else np.uint16
    return np.rint([dark[0], bright[0], dark[1], bright[1]]).astype(dtype)


def _histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The Kolmogorov-Smirnov distance of the two sections' intensity histograms: the largest
    difference of their cumulative distributions, 0 for equal histograms, 1 for disjoint ones."""
    counts = [np.bincount(x.ravel(), minlength=np.iinfo(x.dtype).max + 1) for x in (a, b)]
    cdfs = [np.cumsum(c) / c.sum() for c in counts]
    return float(np.abs(cdfs[0] - cdfs[1]).max())


@pytest.mark.parametrize("bits", [8, 16])
def test_sections_are_stretched_by_their_own_percentiles(tmp_path, bits):
    stack = _dark_and_bright(bits)
    qs = [2.0, 98.0]
    store = _run(tmp_path, stack, normalize={"low_percentile": qs[0], "high_percentile": qs[1]})
    out = _sections(store, "image_raw")
    for z, section in enumerate(stack):
        np.testing.assert_array_equal(out[z], _numpy_stretch(section, qs), err_msg=f"section {z}")
        record = json.loads(store.read(f"levels/{z}.json"))
        assert record["levels"] == [int(v) for v in np.percentile(section, qs, method="inverted_cdf")]
        assert record["stretched"] and record["sampled"] == section.size
    # A dark and a bright section of the same tissue come out with matching histograms.
    for dark, bright in ((0, 1), (2, 3)):
        assert _histogram_distance(stack[dark], stack[bright]) == 1.0, "the input differs (the control)"
        # Not 0: the dark 8-bit section has about 80 levels, stretched over 256 they leave gaps.
        assert _histogram_distance(out[dark], out[bright]) < 0.05


def test_without_normalize_sections_keep_their_levels(tmp_path):
    stack = _dark_and_bright(8)
    store = _run(tmp_path, stack)
    np.testing.assert_array_equal(_sections(store, "image_raw"), stack)
    assert not list(store.list("levels/")), "8-bit data without normalize measures nothing"


def test_16_bit_window_from_the_measured_levels(tmp_path):
    stack = _dark_and_bright(16)
    store = _run(tmp_path, stack)
    lows, highs = zip(*(np.percentile(s, levels.DEFAULT_PERCENTILES, method="inverted_cdf") for s in stack))
    low, high = int(min(lows)), int(max(highs))
    assert json.loads(store.read("levels/window.json"))["window"] == [low, high]
    got = _sections(store, "image").astype(np.float64)
    want = np.clip(np.rint((stack.astype(np.float64) - low) * 255 / (high - low)), 0, 255)
    rmse = np.sqrt(np.mean((got - want) ** 2))
    assert 20 * np.log10(255 / rmse) > 33, f"JPEG layer off the window by {rmse:.1f} levels (rms)"
    # The full 16-bit range would have used a fraction of the 8-bit levels.
    assert got.max() - got.min() > 200


def test_percentiles_equal_numpy_and_large_sections_are_sampled():
    rng = np.random.default_rng(5)
    for dtype, top in ((np.uint8, 255), (np.uint16, 65535)):
        values = rng.integers(0, top, 10_001).astype(dtype)
        qs = [0, 0.1, 1, 37.5, 50, 99, 100]
        assert levels.percentiles(levels.histogram(values), qs) == \
            [int(v) for v in np.percentile(values, qs, method="inverted_cdf")]
    big = np.broadcast_to(np.arange(16384, dtype=np.uint16)[None, :], (16384, 16384))
    sampled = levels.sample(big)
    assert sampled.size >= levels.SAMPLE_PIXELS and sampled.shape == (2048, 2048)
    np.testing.assert_array_equal(sampled[0], np.arange(0, 16384, 8))


def test_percentiles_must_be_ordered(tmp_path):
    with pytest.raises(ConfigError, match="stages.pyramid.normalize.high_percentile: must be above low_percentile"):
        load_job({"id": "x", "source": str(tmp_path), "maxz": 0, "dest": str(tmp_path / "o"),
                  "stages": {"pyramid": {"normalize": {"low_percentile": 50, "high_percentile": 40}}}})
