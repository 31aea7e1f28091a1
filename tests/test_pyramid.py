"""The pyramid against independent oracles: read back with CloudVolume, compared with numpy
downsampling of the PNGs, geometry checked against the precomputed spec, shard ownership checked
with the spec's own chunk-to-shard function."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from cloudvolume import CloudVolume

from emcore import jobroot
from emcore import multiscale
from emcore.job import load_job
from emtest.inprocess import shard_side
from emcore.storage import open_storage
from functions.pyramid.stage import TIDY, TIDY_SECTIONS
from orchestrator import engine
from orchestrator.local import LocalRunner
from tests.oracles import compressed_morton, mean_downsample, shard_of
from tests.stacks import as_xyz, smooth_stack, write_pngs

CASES = {
    "8bit-isotropic-two-waves": dict(width=200, height=150, sections=40, bits=8, resolution=[8, 8, 8],
                                     block=[64, 64, 32], chunk=[16, 16, 16], offset=[0, 0, 0], window=None),
    "16bit-anisotropic-offset": dict(width=160, height=120, sections=24, bits=16, resolution=[4, 4, 40],
                                     block=[64, 64, 16], chunk=[16, 16, 8], offset=[64, 128, 8], window=[0, 4095]),
    # Shards smaller than the block (as 512 in 1024 by default): each task builds its block piece
    # by piece, keeping only the next scale of each piece.
    "8bit-shards-within-blocks": dict(width=200, height=150, sections=40, bits=8, resolution=[8, 8, 8],
                                      block=[64, 64, 64], chunk=[16, 16, 16], offset=[0, 0, 0], window=None,
                                      shard_side=32),
}


def run_case(tmp_path, case):
    stack = smooth_stack(case["width"], case["height"], case["sections"], case["bits"])
    write_pngs(tmp_path / "raw", stack)
    job = load_job({
        "id": "pyr", "source": str(tmp_path / "raw"), "maxz": case["sections"] - 1,
        "dest": str(tmp_path / "out"), "resolution": case["resolution"], "voxel_offset": case["offset"],
        "stages": {"pyramid": {"block": case["block"], "chunk": case["chunk"], "raw": True,
                               "jpeg_quality": 95, "window": case["window"],
                               "keep_tiles": case.get("keep_tiles", False)}},
    })
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    with shard_side(case.get("shard_side", multiscale.SHARD_SIDE)):
        LocalRunner(job, store, workers=0).run()
    return as_xyz(stack), store


@pytest.fixture(scope="module", params=sorted(CASES))
def pyramid(request, tmp_path_factory):
    case = CASES[request.param]
    volume, store = run_case(tmp_path_factory.mktemp(request.param), case)
    return case, volume, store


def oracle_scales(volume, infos):
    """Scale i computed from scale i-1 by numpy, with the factor the resolutions imply."""
    levels = [volume]
    for prev, cur in zip(infos, infos[1:]):
        factor = [round(c / p) for c, p in zip(cur["resolution"], prev["resolution"])]
        levels.append(mean_downsample(levels[-1], factor))
    return levels


def test_geometry_follows_the_spec(pyramid):
    case, volume, store = pyramid
    info = json.loads(store.read("image/info"))
    assert info["@type"] == "neuroglancer_multiscale_volume" and info["type"] == "image"
    assert info["data_type"] == "uint8" and info["num_channels"] == 1
    scales = info["scales"]
    assert scales[0]["size"] == list(volume.shape)
    assert scales[0]["resolution"] == case["resolution"]
    assert scales[0]["voxel_offset"] == case["offset"]
    keys = set()
    for prev, cur in zip(scales, scales[1:]):
        factor = [c / p for c, p in zip(cur["resolution"], prev["resolution"])]
        assert all(f in (1, 2) for f in factor) and any(f == 2 for f in factor)
        assert cur["size"] == [math.ceil(s / f) for s, f in zip(prev["size"], factor)]
    for s in scales:
        cumulative = [r / r0 for r, r0 in zip(s["resolution"], case["resolution"])]
        assert s["voxel_offset"] == [o / f for o, f in zip(case["offset"], cumulative)]
        assert s["chunk_sizes"] == [case["chunk"]] and s["encoding"] == "jpeg"
        assert s["key"] not in keys
        keys.add(s["key"])
    # The last scale fits in one chunk; the one before does not: scales are never capped early.
    assert all(n <= c for n, c in zip(scales[-1]["size"], case["chunk"]))
    assert any(n > c for n, c in zip(scales[-2]["size"], case["chunk"]))


def test_raw_copy_equals_numpy_pyramid_exactly(pyramid):
    case, volume, store = pyramid
    info = json.loads(store.read("image_raw/info"))
    assert info["data_type"] == volume.dtype.name
    expected = oracle_scales(volume, info["scales"])
    for mip, want in enumerate(expected):
        cv = CloudVolume(store.url + "image_raw", mip=mip, progress=False)
        got = cv[cv.bounds][..., 0]
        np.testing.assert_array_equal(got, want, err_msg=f"scale {mip}")


def test_jpeg_layer_within_jpeg_error(pyramid):
    case, volume, store = pyramid
    info = json.loads(store.read("image/info"))
    expected = oracle_scales(volume, info["scales"])
    low, high = case["window"] or (0, 255)
    for mip, want in enumerate(expected):
        cv = CloudVolume(store.url + "image", mip=mip, progress=False)
        got = cv[cv.bounds][..., 0].astype(np.float64)
        want8 = np.clip(np.rint((want.astype(np.float64) - low) * 255 / (high - low)), 0, 255)
        assert got.shape == want8.shape
        rmse = np.sqrt(np.mean((got - want8) ** 2))
        psnr = 20 * np.log10(255 / max(rmse, 1e-9))
        assert psnr > 33, f"scale {mip}: PSNR {psnr:.1f} dB"


def test_no_shard_is_written_by_two_tasks(pyramid):
    case, volume, store = pyramid
    info = json.loads(store.read("image/info"))
    scales = info["scales"]
    # Each task's box at each scale it wrote, from the plans and markers the run left.
    owners: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    for key in store.list(jobroot.plan_prefix("pyramid")):
        plan = json.loads(store.read(key))
        if plan["wave"] == TIDY:
            continue
        wid = f"pyramid.{plan['wave']}"
        for task, params in enumerate(plan["tasks"]):
            marker = json.loads(store.read(jobroot.marker_key(wid, task)))
            written = marker["summary"]["scales"]
            base = written[0] - 1 if written[0] > 0 else 0
            for mip in written:
                rel = np.array(scales[mip]["resolution"]) / np.array(scales[base]["resolution"])
                lo = np.array(params["lo"]) // rel
                hi = np.ceil(np.array(params["hi"]) / rel)
                owners.setdefault(mip, []).append((lo, hi))
    assert sorted(owners) == list(range(len(scales)))
    for mip, s in enumerate(scales):
        chunk = np.array(s["chunk_sizes"][0])
        grid = [-(-n // c) for n, c in zip(s["size"], chunk)]
        shards: dict[int, list[np.ndarray]] = {}
        for pos in np.ndindex(*grid):
            shards.setdefault(shard_of(compressed_morton(pos, grid), s["sharding"]), []).append(np.array(pos))
        for shard, chunks in shards.items():
            holders = set()
            for pos in chunks:
                c_lo = pos * chunk
                c_hi = np.minimum(c_lo + chunk, s["size"])
                holders |= {i for i, (lo, hi) in enumerate(owners[mip]) if np.all(c_lo >= lo) and np.all(c_hi <= hi)}
                assert any(np.all(c_lo >= lo) and np.all(c_hi <= hi) for lo, hi in owners[mip])
            assert len(holders) == 1, f"scale {mip} shard {shard} spans tasks {sorted(holders)}"


def test_blocks_larger_than_a_shard_hold_several():
    """The shards-within-blocks case really has several shards per block at scale 0, so its
    tasks took the piece-by-piece path the oracles above check."""
    case = CASES["8bit-shards-within-blocks"]
    with shard_side(case["shard_side"]):
        ms = multiscale.Multiscale([case["width"], case["height"], case["sections"]], case["resolution"],
                                   case["offset"], case["chunk"], case["block"])
        sharding = ms.sharding()[0]
    chunks_per_shard = 2 ** (sharding["preshift_bits"] + sharding["minishard_bits"])
    chunks_per_block = math.prod(b // c for b, c in zip(case["block"], case["chunk"]))
    assert chunks_per_shard == (case["shard_side"] // case["chunk"][0]) ** 3
    assert chunks_per_block // chunks_per_shard == 8


def test_tiles_are_deleted_once_the_pyramid_is_built(pyramid, tmp_path):
    """The tidy wave leaves only the tiles' `info` and `zarr.json`; with `keep_tiles` the
    rendered sections stay, one object per row of tiles (and the pyramid is the same)."""
    case, volume, store = pyramid
    assert list(store.list("tiles/")) == ["tiles/info", "tiles/zarr.json"]
    plan = json.loads(store.read(jobroot.plan_key(f"pyramid.{TIDY}")))
    assert plan["count"] == -(-case["sections"] // TIDY_SECTIONS)
    kept_case = dict(case, keep_tiles=True)
    _, kept = run_case(tmp_path, kept_case)
    shards = [k for k in kept.list("tiles/") if k not in ("tiles/info", "tiles/zarr.json")]
    y_tiles = -(-case["height"] // min(case["block"][1], case["height"]))
    assert len(shards) == case["sections"] * y_tiles
    assert not kept.exists(jobroot.plan_key(f"pyramid.{TIDY}"))
    assert kept.read("image/info") == store.read("image/info")
