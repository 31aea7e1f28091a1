"""An existing volume as the pyramid's input (`stages.pyramid.volume`): volumes written by
independent writers (CloudVolume for precomputed, TensorStore for zarr v2, zarr v3 and N5) get every
missing scale, read back with CloudVolume and compared with numpy: means for an image, modes for a
segmentation. Bad volumes are refused through the real CLI, naming the volume."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from cloudvolume import CloudVolume

from emcore import multiscale
from emcore.job import load_job
from emcore.storage import open_storage
from orchestrator import engine
from orchestrator.local import LocalRunner
from tests.oracles import mean_downsample, mode_downsample

EMCTL = [sys.executable, "-m", "orchestrator.cli.main"]
SHAPE = (150, 130, 40)        # not a multiple of the chunk or the block, on purpose
OFFSET = [32, 64, 16]         # divisible by every scale's factor down to one 16^3 chunk
RESOLUTION = [8, 8, 8]


def image_volume() -> np.ndarray:
    """Smooth tissue-like intensities plus noise: means of windows differ from any one voxel."""
    x, y, z = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    smooth = 120 + 60 * np.sin(x / 9.0) * np.cos(y / 13.0) + 40 * np.sin(z / 7.0)
    noise = np.random.default_rng(1).normal(0, 12, SHAPE)
    return np.clip(np.rint(smooth + noise), 0, 255).astype(np.uint8)


def segmentation_volume() -> np.ndarray:
    """Blobs with ids up to 2^40 (uint64 for real), ragged borders so that windows mix ids and tie."""
    rng = np.random.default_rng(2)
    seeds = rng.integers(0, SHAPE, (60, 3))
    x, y, z = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    points = np.stack([x, y, z], -1).reshape(-1, 3)
    from scipy.spatial import cKDTree
    nearest = cKDTree(seeds).query(points + rng.normal(0, 1.5, points.shape))[1]
    ids = (rng.permutation(60) + 1).astype(np.uint64) * np.uint64(1 << 34)
    labels = ids[nearest].reshape(SHAPE)
    labels[rng.random(SHAPE) < 0.02] = 0
    return labels


def oracle(volume: np.ndarray, infos: list[dict], pool) -> list[np.ndarray]:
    levels = [volume]
    for prev, cur in zip(infos, infos[1:]):
        factor = [round(c / p) for c, p in zip(cur["resolution"], prev["resolution"])]
        levels.append(pool(levels[-1], factor))
    return levels


def run(tmp_path, volume_section: dict, **pyramid) -> object:
    job = load_job({"id": "vol", "dest": str(tmp_path / "out"), "resolution": RESOLUTION, "voxel_offset": OFFSET,
                    "stages": {"pyramid": {"block": [64, 64, 32], "chunk": [16, 16, 16], "encoding": "raw",
                                           "volume": volume_section, **pyramid}}})
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    LocalRunner(job, store, workers=0).run()
    return store


def write_cloudvolume(path, data: np.ndarray, layer_type: str, chunk=(32, 32, 16)) -> str:
    encoding = "compressed_segmentation" if layer_type == "segmentation" else "raw"
    info = CloudVolume.create_new_info(1, layer_type, data.dtype.name, encoding, RESOLUTION, OFFSET, data.shape,
                                       chunk_size=list(chunk))
    # compress=False: on a local disk CloudVolume would gzip each chunk into its own `.gz` file,
    # which TensorStore does not read (refused by name: test_gzip_files_of_cloudvolume_are_refused).
    cv = CloudVolume(f"file://{path}", info=info, progress=False, compress=False)
    cv.commit_info()
    cv[:, :, :] = data
    return str(path)


def write_tensorstore(path, data: np.ndarray, driver: str, axes: str, dimension_names=None) -> str:
    """`data` (x, y, z) stored with its dimensions in the order `axes` names."""
    import tensorstore as ts
    stored = np.transpose(data, ["xyz".index(a) for a in axes])
    chunk = [16] * 3
    if driver == "n5":
        metadata = {"dimensions": list(stored.shape), "blockSize": chunk, "dataType": stored.dtype.name,
                    "compression": {"type": "gzip"}}
    elif driver == "zarr":
        metadata = {"shape": list(stored.shape), "chunks": chunk, "dtype": stored.dtype.str}
    else:
        metadata = {"shape": list(stored.shape), "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunk}},
                    "data_type": stored.dtype.name}
        if dimension_names:
            metadata["dimension_names"] = dimension_names
    store = ts.open({"driver": driver, "kvstore": {"driver": "file", "path": str(path)}, "metadata": metadata},
                    create=True).result()
    store.write(stored).result()
    return str(path)


def read_scales(url: str) -> tuple[list[dict], list[np.ndarray]]:
    info = json.loads(open_storage(url).read("info"))
    out = []
    for mip in range(len(info["scales"])):
        cv = CloudVolume(url, mip=mip, progress=False)
        out.append(cv[cv.bounds][..., 0])
    return info, out


def assert_pyramid(url: str, volume: np.ndarray, pool, layer_type: str):
    info, scales = read_scales(url)
    assert info["type"] == layer_type and info["data_type"] == volume.dtype.name
    assert info["scales"][0]["voxel_offset"] == OFFSET and info["scales"][0]["size"] == list(volume.shape)
    # Every missing scale: down to one chunk, and not one more.
    assert all(n <= 16 for n in info["scales"][-1]["size"]) and any(n > 16 for n in info["scales"][-2]["size"])
    for mip, (got, want) in enumerate(zip(scales, oracle(volume, info["scales"], pool))):
        np.testing.assert_array_equal(got, want, err_msg=f"scale {mip}")


def test_precomputed_image_gets_every_scale_equal_to_numpy_means(tmp_path):
    volume = image_volume()
    src = write_cloudvolume(tmp_path / "src", volume, "image")
    store = run(tmp_path, {"url": src}, ome_zarr=True)
    assert_pyramid(store.url + "image/", volume, mean_downsample, "image")
    assert not store.exists("tiles/info"), "nothing is rendered for a volume input"
    # The OME-Zarr copy of a volume input, read by zarr-python (z, y, x), is the same pyramid.
    import zarr
    group = zarr.open_group(str(tmp_path / "out" / "image.ome.zarr"), mode="r")
    _, scales = read_scales(store.url + "image/")
    for mip, want in enumerate(scales):
        np.testing.assert_array_equal(np.asarray(group[str(mip)][:]).transpose(2, 1, 0), want, err_msg=f"scale {mip}")
    waves = json.loads(store.read(".emctl/job.json"))
    assert "align" not in waves["stages"]


def test_precomputed_segmentation_gets_every_scale_equal_to_mode_pooling(tmp_path):
    volume = segmentation_volume()
    src = write_cloudvolume(tmp_path / "src", volume, "segmentation")
    store = run(tmp_path, {"url": src})
    info = json.loads(store.read("segmentation/info"))
    assert {s["encoding"] for s in info["scales"]} == {"compressed_segmentation"}
    assert not store.exists("image/info")
    assert_pyramid(store.url + "segmentation/", volume, mode_downsample, "segmentation")


@pytest.mark.parametrize("shard_side", [None, 32])
def test_scales_a_volume_has_already_are_kept(tmp_path, monkeypatch, shard_side):
    """A precomputed volume with its own scale 1 (by striding, not a mean, so a copy tells from a
    recomputation) and a scale 2 of another shape: scale 1 is copied, scale 2 and every coarser
    one are computed from the copied scale 1. With shards smaller than the block, a task builds
    its block piece by piece (multiscale.write_from), and each piece's scale 1 is the copy too."""
    if shard_side:
        monkeypatch.setattr(multiscale, "SHARD_SIDE", shard_side)
    volume = image_volume()
    src = write_cloudvolume(tmp_path / "src", volume, "image")
    cv = CloudVolume(f"file://{src}", progress=False, compress=False)
    strided = volume[::2, ::2, ::2]
    cv.add_scale([2, 2, 2], chunk_size=[16, 16, 16])
    cv.add_scale([4, 4, 1], chunk_size=[16, 16, 16])      # not a scale of this pyramid: ignored
    cv.commit_info()
    CloudVolume(f"file://{src}", mip=1, progress=False, compress=False)[:, :, :] = strided
    store = run(tmp_path, {"url": src})
    info, scales = read_scales(store.url + "image/")
    np.testing.assert_array_equal(scales[0], volume)
    np.testing.assert_array_equal(scales[1], strided, err_msg="scale 1 is the volume's own")
    assert not np.array_equal(strided, mean_downsample(volume, [2, 2, 2])), "the copy is told from a mean"
    for mip, want in enumerate(oracle(strided, info["scales"][1:], mean_downsample)[1:], start=2):
        np.testing.assert_array_equal(scales[mip], want, err_msg=f"scale {mip}, from the kept scale 1")


@pytest.mark.parametrize("driver, axes, names", [
    ("zarr", "zyx", None),               # numpy's order, the default for zarr
    ("zarr3", "yxz", ["y", "x", "z"]),   # zarr v3 names its dimensions: no `axes` needed
    ("n5", "xyz", None),                 # N5 lists x first, the default for N5
])
def test_zarr_and_n5_images_and_segmentations(tmp_path, driver, axes, names):
    image = image_volume()
    labels = (segmentation_volume() >> np.uint64(34)).astype(np.uint32) * np.uint32(70001)   # ids 1..60, spread
    src = write_tensorstore(tmp_path / "img", image, driver, axes, names)
    store = run(tmp_path / "a", {"url": src})
    assert_pyramid(store.url + "image/", image, mean_downsample, "image")
    src = write_tensorstore(tmp_path / "seg", labels, driver, axes, names)
    store = run(tmp_path / "b", {"url": src, "layer_type": "segmentation"})
    assert_pyramid(store.url + "segmentation/", labels, mode_downsample, "segmentation")


def test_axes_option_reorders_a_zarr_array(tmp_path):
    image = image_volume()
    src = write_tensorstore(tmp_path / "img", image, "zarr", "xzy")
    store = run(tmp_path, {"url": src, "axes": "xzy"})
    assert_pyramid(store.url + "image/", image, mean_downsample, "image")


def test_gzip_files_of_cloudvolume_are_refused(tmp_path):
    from emcore.stage import TaskError
    volume = image_volume()
    info = CloudVolume.create_new_info(1, "image", "uint8", "raw", RESOLUTION, OFFSET, volume.shape, chunk_size=[32, 32, 16])
    cv = CloudVolume(f"file://{tmp_path / 'src'}", info=info, progress=False, compress=True)
    cv.commit_info()
    cv[:, :, :] = volume
    with pytest.raises(TaskError, match=r"pyramid.volume: .*\.gz is gzip-compressed"):
        run(tmp_path, {"url": str(tmp_path / "src")})


def job_file(tmp_path, volume_section, **top):
    config = {"id": "badvol", "dest": str(tmp_path / "out"), "stages": {"pyramid": {"volume": volume_section}}, **top}
    path = tmp_path / "job.json"
    path.write_text(json.dumps(config))
    return str(path)


def start(config: str):
    return subprocess.run(EMCTL + ["start", "--config", config], capture_output=True, text=True, timeout=300)


def test_bad_volumes_are_refused_by_name_through_the_cli(tmp_path):
    (tmp_path / "empty").mkdir()
    run_ = start(job_file(tmp_path, {"url": str(tmp_path / "empty")}))
    out = run_.stdout + run_.stderr
    assert run_.returncode != 0, out
    assert f"pyramid.volume: no volume at file://{tmp_path}/empty/: none of info (precomputed)" in out, out
    assert "Traceback" not in out
    deep = np.full((40, 40, 20), 1000, np.uint16)
    (tmp_path / "b").mkdir()
    src = write_tensorstore(tmp_path / "deep", deep, "zarr", "zyx")
    run_ = start(job_file(tmp_path / "b", {"url": src}))
    out = run_.stdout + run_.stderr
    assert run_.returncode != 0, out
    assert "pyramid.window: the volume at" in out and "holds uint16" in out, out
    assert not (tmp_path / "b" / "out" / "image").exists(), "refused before anything is written"


def test_a_four_dimensional_array_and_a_wrong_type_are_refused(tmp_path):
    import tensorstore as ts
    from emcore.stage import TaskError
    ts.open({"driver": "zarr", "kvstore": {"driver": "file", "path": str(tmp_path / "rgb")},
             "metadata": {"shape": [8, 8, 8, 3], "chunks": [8, 8, 8, 3], "dtype": "|u1"}}, create=True).result()
    with pytest.raises(TaskError, match=r"pyramid.volume: .*rgb/ has 4 dimensions \[8, 8, 8, 3\]"):
        run(tmp_path / "a", {"url": str(tmp_path / "rgb")})
    write_tensorstore(tmp_path / "f", np.zeros((8, 8, 8), np.float32), "zarr", "zyx")
    with pytest.raises(TaskError, match=r"holds float32; an segmentation pyramid takes uint8"):
        run(tmp_path / "b", {"url": str(tmp_path / "f"), "layer_type": "segmentation"})
    # An OME-Zarr image (emctl's own copy) is a group: the message names its full-resolution array.
    store = run(tmp_path / "g", {"url": write_cloudvolume(tmp_path / "img", image_volume(), "image")}, ome_zarr=True)
    with pytest.raises(TaskError, match=r"image.ome.zarr/ is a zarr group, not an array: name one of its arrays, "
                                        r"e.g. .*image.ome.zarr/0/ \(its full resolution\)"):
        run(tmp_path / "h", {"url": store.url + "image.ome.zarr"})
    src = write_cloudvolume(tmp_path / "seg", segmentation_volume(), "segmentation")
    with pytest.raises(TaskError, match=r"pyramid.volume.layer_type: 'image', but .*info says 'segmentation'"):
        run(tmp_path / "c", {"url": src, "layer_type": "image"})
    with pytest.raises(TaskError, match=r"pyramid.ome_zarr: the OME-Zarr copy is of an image; .* is a segmentation"):
        run(tmp_path / "d", {"url": src}, ome_zarr=True)


@pytest.mark.parametrize("stages, field", [
    ({"align": {}, "pyramid": {"volume": {"url": "/tmp/v"}}}, "stages.pyramid.volume: gives pyramid its input, so stage 'align'"),
    ({"pyramid": {"volume": {"url": "/tmp/v", "axes": "xxz"}}}, "stages.pyramid.volume.axes: must name x, y and z once each"),
    ({"pyramid": {"normalize": {}, "volume": {"url": "/tmp/v"}}}, "stages.pyramid.normalize: stretches sections"),
])
def test_config_errors_name_the_field(tmp_path, stages, field):
    from emcore.schema import ConfigError
    with pytest.raises(ConfigError) as e:
        load_job({"id": "x", "dest": str(tmp_path), "source": str(tmp_path), "maxz": 3, "stages": stages})
    assert field in str(e.value)


def test_a_volume_input_needs_no_source_or_maxz(tmp_path):
    job = load_job({"id": "x", "dest": str(tmp_path), "stages": {"pyramid": {"volume": {"url": "/tmp/v"}}}})
    assert job.stage("pyramid")["volume"]["url"] == "file:///tmp/v/"


def test_an_existing_segmentation_is_meshed_in_the_same_job(tmp_path):
    """The pyramid of an existing segmentation is the job's own segmentation (`<dest>/segmentation/`),
    so `mesh` runs on it without `cc`: CloudVolume reads a mesh for every id, and for no other."""
    labels = np.asfortranarray(segmentation_volume()[:80, :80, :32])
    src = write_cloudvolume(tmp_path / "src", labels, "segmentation")
    job = load_job({"id": "vm", "dest": str(tmp_path / "out"),
                    "stages": {"pyramid": {"block": [64, 64, 32], "chunk": [16, 16, 16], "volume": {"url": src}},
                               "mesh": {}}})
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    LocalRunner(job, store, workers=0).run()
    ids = [int(i) for i in np.unique(labels) if i]
    cv = CloudVolume(store.url + "segmentation", progress=False)
    meshes = cv.mesh.get(ids)
    assert sorted(meshes) == ids
    for i in ids:   # each mesh lies where its object is: its vertices' box is the object's
        where = np.argwhere(labels == i)
        lo = (where.min(0) + OFFSET) * RESOLUTION
        hi = (where.max(0) + 1 + np.array(OFFSET)) * RESOLUTION
        v = meshes[i].vertices
        assert (v.min(0) >= lo - 8).all() and (v.max(0) <= hi + 8).all(), i


def test_plan_of_a_volume_job_has_the_run_s_waves_and_tasks(tmp_path):
    """`emctl plan` describes the volume from its metadata (no data read) and plans the waves and
    tasks the run then has, and bills the volume's bytes as the tasks' input."""
    from emcore.jobroot import read_plan
    from orchestrator.simulate import simulate
    volume = image_volume()
    src = write_cloudvolume(tmp_path / "src", volume, "image")
    job = load_job({"id": "vol", "dest": str(tmp_path / "out"),
                    "stages": {"pyramid": {"block": [64, 64, 32], "chunk": [16, 16, 16], "encoding": "raw",
                                           "volume": {"url": src}}}})
    reports = {r.wave: r for r in simulate(job)}
    store = run(tmp_path, {"url": src})
    ran = [k.split("/")[-1][:-len(".json")] for k in store.list(".emctl/plan/")]
    assert sorted(reports) == sorted(ran) and "align.render" not in reports
    for wave, report in reports.items():
        assert report.tasks == read_plan(store, wave)["count"], wave
    assert reports["pyramid.0"].bytes_in == volume.nbytes
