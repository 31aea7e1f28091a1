"""The OME-Zarr copy of the pyramid (`stages.pyramid.ome_zarr`) read back by independent readers:
zarr-python reads every scale, which must equal the precomputed scale CloudVolume reads (and the
numpy pyramid), and ome-zarr-models validates the group against the OME-Zarr 0.5 models. Its
shards must be exactly the precomputed shards' boxes, which test_pyramid proves each task owns."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from cloudvolume import CloudVolume

from emcore import omezarr
from emcore.multiscale import SHARD_SIDE, Multiscale
from emcore.job import load_job
from emcore.storage import open_storage
from emtest.inprocess import shard_side
from orchestrator import engine
from orchestrator.local import LocalRunner
from tests.oracles import compressed_morton, mean_downsample, shard_of
from tests.stacks import as_xyz, smooth_stack, write_pngs

zarr = pytest.importorskip("zarr")
ome_v05 = pytest.importorskip("ome_zarr_models.v05")

CASES = {
    # A lossless image_raw/ beside it: the copy must equal it scale by scale.
    "16bit-anisotropic-offset-raw": dict(width=160, height=120, sections=24, bits=16, resolution=[4, 4, 40],
                                         block=[64, 64, 16], chunk=[16, 16, 8], offset=[64, 128, 8],
                                         pyramid={"raw": True, "window": [0, 4095]}),
    # image/ itself lossless, blocks holding several shards (the piece-by-piece path).
    "8bit-raw-encoding-shards-within-blocks": dict(width=200, height=150, sections=40, bits=8, resolution=[8, 8, 8],
                                                   block=[64, 64, 64], chunk=[16, 16, 16], offset=[0, 0, 0],
                                                   pyramid={"encoding": "raw"}, shard_side=32),
    # JPEG only: the copy is the one lossless layer, and the later waves read it.
    "8bit-jpeg-only": dict(width=200, height=150, sections=40, bits=8, resolution=[8, 8, 8],
                           block=[64, 64, 32], chunk=[16, 16, 16], offset=[0, 0, 0], pyramid={}),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def built(request, tmp_path_factory):
    case = CASES[request.param]
    root = tmp_path_factory.mktemp(request.param)
    stack = smooth_stack(case["width"], case["height"], case["sections"], case["bits"])
    write_pngs(root / "raw", stack)
    job = load_job({
        "id": "ome", "source": str(root / "raw"), "maxz": case["sections"] - 1, "dest": str(root / "out"),
        "resolution": case["resolution"], "voxel_offset": case["offset"],
        "stages": {"pyramid": {"block": case["block"], "chunk": case["chunk"], "ome_zarr": True,
                               **case["pyramid"]}},
    })
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    with shard_side(case.get("shard_side", SHARD_SIDE)):
        LocalRunner(job, store, workers=0).run()
    ms = Multiscale([case["width"], case["height"], case["sections"]], case["resolution"], case["offset"],
                    case["chunk"], case["block"])
    return case, as_xyz(stack), store, root / "out", ms


def lossless_layer(case) -> str:
    return "image_raw" if case["pyramid"].get("raw") else "image"


def test_every_scale_equals_the_precomputed_scale_and_numpy(built):
    case, volume, store, dest, ms = built
    group = zarr.open_group(str(dest / omezarr.NAME), mode="r")
    info = json.loads(store.read("image/info"))
    assert sorted(group.array_keys(), key=int) == [str(i) for i in range(len(info["scales"]))]
    want = volume
    for mip, scale in enumerate(info["scales"]):
        if mip:
            prev = info["scales"][mip - 1]["resolution"]
            want = mean_downsample(want, [round(c / p) for c, p in zip(scale["resolution"], prev)])
        got = group[str(mip)][...]                       # (z, y, x), as OME orders axes
        assert got.dtype == volume.dtype and got.shape == tuple(reversed(scale["size"]))
        np.testing.assert_array_equal(got.T, want, err_msg=f"scale {mip} vs numpy")
        if case["pyramid"].get("encoding") == "raw" or case["pyramid"].get("raw"):
            cv = CloudVolume(store.url + lossless_layer(case), mip=mip, progress=False)
            np.testing.assert_array_equal(got.T, cv[cv.bounds][..., 0], err_msg=f"scale {mip} vs precomputed")


def test_jpeg_layer_is_the_copy_within_jpeg_error(built):
    """The JPEG layer and the copy hold the same pyramid: within JPEG error of each other at every
    scale. (That the later waves read the copy, not image/, the exact comparison with numpy above
    shows: from JPEG-decoded input the copy's upper scales differ.)"""
    case, volume, store, dest, ms = built
    if case["pyramid"]:
        pytest.skip("8-bit JPEG without a window only")
    group = zarr.open_group(str(dest / omezarr.NAME), mode="r")
    info = json.loads(store.read("image/info"))
    for mip in range(len(info["scales"])):
        cv = CloudVolume(store.url + "image", mip=mip, progress=False)
        got = cv[cv.bounds][..., 0].astype(np.float64)
        exact = group[str(mip)][...].T.astype(np.float64)
        psnr = 20 * np.log10(255 / max(np.sqrt(np.mean((got - exact) ** 2)), 1e-9))
        assert psnr > 33, f"scale {mip}: PSNR {psnr:.1f} dB"


def test_metadata_validates_as_ome_zarr_0_5(built):
    case, volume, store, dest, ms = built
    image = ome_v05.Image.from_zarr(zarr.open_group(str(dest / omezarr.NAME), mode="r"))
    assert image.ome_zarr_version == "0.5"
    (multiscale,) = image.ome_attributes.multiscales
    assert [(a.name, a.type, a.unit) for a in multiscale.axes] == [(a, "space", "nanometer") for a in "zyx"]
    info = json.loads(store.read("image/info"))
    assert len(multiscale.datasets) == len(info["scales"])
    for dataset, scale in zip(multiscale.datasets, info["scales"]):
        scale_t, translation_t = dataset.coordinateTransformations
        assert list(scale_t.scale) == list(reversed(scale["resolution"]))
        # OME places voxel centres: half a voxel past the precomputed corner.
        centre = [(o + 0.5) * r for o, r in zip(scale["voxel_offset"], scale["resolution"])]
        assert list(translation_t.translation) == pytest.approx(list(reversed(centre)))


def test_the_validator_rejects_a_broken_copy(built, tmp_path):
    """The check above can fail: the same group without its axes is refused."""
    case, volume, store, dest, ms = built
    broken = tmp_path / omezarr.NAME
    shutil.copytree(dest / omezarr.NAME, broken)
    doc = json.loads((broken / "zarr.json").read_text())
    del doc["attributes"]["ome"]["multiscales"][0]["axes"]
    (broken / "zarr.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError):
        ome_v05.Image.from_zarr(zarr.open_group(str(broken), mode="r"))


def test_shards_are_the_precomputed_shards(built):
    """Each zarr shard holds exactly the chunks of one precomputed shard, which one task owns
    (test_pyramid.test_no_shard_is_written_by_two_tasks); inner chunks are the pyramid's chunk."""
    case, volume, store, dest, ms = built
    group = zarr.open_group(str(dest / omezarr.NAME), mode="r")
    info = json.loads(store.read("image/info"))
    for mip, scale in enumerate(info["scales"]):
        array = group[str(mip)]
        assert array.metadata.dimension_names == ("z", "y", "x")
        assert array.chunks == tuple(reversed(case["chunk"]))
        shard = [int(n) for n in reversed(array.shards)]  # x, y, z
        chunk = np.array(case["chunk"])
        grid = [-(-n // c) for n, c in zip(scale["size"], chunk)]
        precomputed, ours = {}, {}
        for pos in np.ndindex(*grid):
            precomputed.setdefault(shard_of(compressed_morton(pos, grid), scale["sharding"]), set()).add(pos)
            ours.setdefault(tuple(p * c // s for p, c, s in zip(pos, chunk, shard)), set()).add(pos)
        assert sorted(map(sorted, precomputed.values())) == sorted(map(sorted, ours.values())), f"scale {mip}"


def test_metadata_is_deterministic(built, tmp_path):
    """A plan that runs again writes the same bytes (concurrent planners agree)."""
    case, volume, store, dest, ms = built
    again = tmp_path / "again"
    with shard_side(case.get("shard_side", SHARD_SIDE)):
        omezarr.write_metadata(f"file://{again}/", ms, str(volume.dtype), "image")
    written = sorted(p.relative_to(dest / omezarr.NAME) for p in (dest / omezarr.NAME).rglob("zarr.json"))
    assert written == sorted(p.relative_to(again) for p in again.rglob("zarr.json"))
    for name in written:
        assert (again / name).read_bytes() == (dest / omezarr.NAME / name).read_bytes(), name


def test_outputs_line_describes_the_copy(built):
    from orchestrator.outputs import describe_outputs
    case, volume, store, dest, ms = built
    info = json.loads(store.read("image/info"))
    size = "x".join(str(n) for n in info["scales"][0]["size"])
    resolution = "x".join(f"{r:g}" for r in case["resolution"])
    assert (f"{omezarr.NAME + '/':24}OME-Zarr 0.5 {volume.dtype.name}: {size} voxels of {resolution} nm, "
            f"{len(info['scales'])} scales, zarr v3 sharded, zstd") in describe_outputs(store)


def test_a_retried_task_rewrites_the_same_bytes(built):
    """Tasks are retried: running the last wave's tasks again (they read the scale the wave before
    wrote, which stays) leaves every object of the copy byte-identical."""
    from emcore import jobroot
    from emcore.stage import TaskContext
    from functions.pyramid.stage import Build, BlockTask
    case, volume, store, dest, ms = built
    job = load_job(json.loads(jobroot.read_job(store)))
    wave = len(ms.layouts) - 1
    assert wave > 0, "the case must have a later wave"
    before = {p: p.read_bytes() for p in (dest / omezarr.NAME).rglob("*") if p.is_file()}
    written_at = {p: p.stat().st_mtime_ns for p in before}
    plan = json.loads(store.read(jobroot.plan_key(f"pyramid.{wave}")))
    with shard_side(case.get("shard_side", SHARD_SIDE)):
        for index, params in enumerate(plan["tasks"]):
            Build(wave).run(TaskContext(job, store, "pyramid", str(wave), index), BlockTask(**params))
    after = {p: p.read_bytes() for p in (dest / omezarr.NAME).rglob("*") if p.is_file()}
    assert any(p.stat().st_mtime_ns != t for p, t in written_at.items()), "the tasks wrote nothing"
    assert after == before


def test_the_plan_cost_counts_the_copy(built):
    """`emctl plan`'s estimate: one more write per scale a task writes."""
    from emcore import jobroot
    from functions.pyramid.stage import Build, BlockTask
    case, volume, store, dest, ms = built
    config = json.loads(jobroot.read_job(store))
    without = json.loads(json.dumps(config))
    without["stages"]["pyramid"]["ome_zarr"] = False
    for wave, layout in enumerate(ms.layouts):
        task = BlockTask(**json.loads(store.read(jobroot.plan_key(f"pyramid.{wave}")))["tasks"][0])
        writes = Build(wave).cost(load_job(config), task, store)["writes"]
        assert writes - Build(wave).cost(load_job(without), task, store)["writes"] == len(layout.scales)


def test_emctl_view_ome_zarr_layer(built):
    """`emctl view --ome-zarr`: the image layer reads the copy through Neuroglancer's zarr3 source
    (rendered and compared in test_browser); 16-bit data through the JPEG layer's window."""
    from orchestrator.viewer import layers_of
    case, volume, store, dest, ms = built
    (image,) = [layer for layer in layers_of(store, "http://x", ome_zarr=True) if layer["type"] == "image"]
    assert image["name"] == omezarr.NAME and image["source"] == f"zarr3://http://x/data/{omezarr.NAME}/"
    window = case["pyramid"].get("window")
    assert image.get("shaderControls") == ({"normalized": {"range": window}} if window else None)
    (plain,) = [layer for layer in layers_of(store, "http://x") if layer["type"] == "image"]
    assert plain["source"] == "precomputed://http://x/data/image"


def test_emctl_view_ome_zarr_without_a_copy_says_what_to_do(tmp_path):
    import subprocess
    import sys
    stack = smooth_stack(40, 30, 2)
    write_pngs(tmp_path / "raw", stack)
    job = load_job({"id": "plain", "source": str(tmp_path / "raw"), "maxz": 1, "dest": str(tmp_path / "out"),
                    "stages": {"pyramid": {"block": [32, 32, 32], "chunk": [16, 16, 16]}}})
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    LocalRunner(job, store, workers=0).run()
    done = subprocess.run([sys.executable, "-m", "orchestrator.cli.main", "view", str(tmp_path / "out"),
                           "--ome-zarr", "--print-url", "--data-url", "http://x/"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "stages.pyramid.ome_zarr" in done.stderr, (done.returncode, done.stderr)
