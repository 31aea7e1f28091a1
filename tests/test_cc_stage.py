"""The cc stage end to end against independent oracles: a descriptor written with TensorStore or
CloudVolume, the job run by the local backend, the segmentation read back with CloudVolume and
compared with cc3d on the whole volume in one piece (same connectivity, same size filter) up to
relabelling; segments.csv's statistics compared exactly; every downsampled scale compared with a
numpy mode downsampling; bad input refused with errors naming the field."""
from __future__ import annotations

import csv
import functools
import hashlib
import json

import cc3d
import numpy as np
import pytest
from cloudvolume import CloudVolume

from emcore import failures, jobroot
from emcore.job import load_job
from emcore.schema import ConfigError
from emcore.stage import TaskError
from emtest import inprocess
from emtest.cc import OFFSET, RESOLUTION, make_volume, oracle_stats, run_job, write_descriptor
from functions.cc import descriptor
from functions.cc.layout import Layout
from functions.cc.stage import STAGE
from tests.oracles import mode_downsample

BLOCK = [32, 32, 32]
CASES = {  # name: (dtype, connectivity, nummergetasks, writer)
    **{f"float32-c{c}-m{m}": ("float32", c, m, "tensorstore") for c in (6, 18, 26) for m in (1, 3)},
    "uint8-c26-m3-cloudvolume": ("uint8", 26, 3, "cloudvolume"),
    "float32-c18-m27-combine": ("float32", 18, 27, "tensorstore"),   # 27 partials: a combine wave
}
DUST, SIZE = 3, 8


def descriptor_volume(dtype: str) -> tuple[np.ndarray, float]:
    vol = make_volume(BLOCK, seed=5)   # objects across blocks, diagonal contacts at corners
    if dtype == "uint8":
        return (vol * 255).astype(np.uint8), 127
    return vol, 0.5


def cc_job(dest, descriptor_url, **options):
    cc = {"descriptor": descriptor_url, "ccthresh": 0.5, "connectivity": 26, "dustthresh": DUST,
          "szthresh": SIZE, "block": BLOCK, "chunk": [16, 16, 16], "nummergetasks": 3}
    return load_job({"id": "cc", "dest": str(dest), "stages": {"cc": {**cc, **options}}})


@pytest.fixture(scope="module", params=sorted(CASES))
def result(request, tmp_path_factory):
    dtype, connectivity, tasks, writer = CASES[request.param]
    root = tmp_path_factory.mktemp(request.param)
    vol, ccthresh = descriptor_volume(dtype)
    # The CloudVolume case keeps its descriptor inside the job root and names it "<dest>/...".
    url = "file://" + str(root / "out" / "clefts") if writer == "cloudvolume" else "file://" + str(root / "clefts")
    write_descriptor(url, vol, writer)
    name = "<dest>/clefts" if writer == "cloudvolume" else url
    # The case with every kind of wave keeps its intermediates, for test_tasks_rewrite_the_same_bytes.
    job = cc_job(root / "out", name, ccthresh=ccthresh, connectivity=connectivity, nummergetasks=tasks,
                 keep_intermediates=tasks == 27)
    store = run_job(job)
    ref = cc3d.connected_components(vol > ccthresh, connectivity=connectivity)
    ref = cc3d.dust(ref, threshold=max(DUST, SIZE), connectivity=connectivity, in_place=False)
    return job, store, ref


def read_scale(store, mip):
    return _read_scale(store.url + "segmentation", mip)


@functools.cache   # several tests read the same scales; a job's output does not change
def _read_scale(url, mip):
    cv = CloudVolume(url, mip=mip, progress=False, fill_missing=True)
    assert list(cv.voxel_offset) == [o // f for o, f in zip(OFFSET, cv.downsample_ratio)]
    out = cv[cv.bounds][..., 0]
    out.flags.writeable = False
    return out


def test_partition_equals_cc3d_on_the_whole_volume(result):
    job, store, ref = result
    out = read_scale(store, 0)
    fg = ref > 0
    assert out.shape == ref.shape and np.array_equal(fg, out > 0)
    pairs = np.unique(np.stack([ref[fg], out[fg]], axis=1), axis=0)
    count = len(np.unique(ref[fg]))
    assert count > 50 and len(pairs) == count == len(np.unique(out[fg])), "not a bijection"
    assert np.array_equal(np.unique(out[fg]), np.arange(1, count + 1))   # consecutive from 1


def test_segments_csv_statistics_are_exact(result):
    job, store, ref = result
    out = read_scale(store, 0)
    with open(store.url[len("file://"):] + "segments.csv") as f:
        rows = list(csv.DictReader(f))
    expected = oracle_stats(out)   # out's labels are ref's up to relabelling (test above)
    assert [int(r["id"]) for r in rows] == sorted(expected)
    for r in rows:
        voxels, sums, bbox = expected[int(r["id"])]
        assert int(r["voxels"]) == voxels
        assert [int(r[f"bbox_{a}{e}"]) for e in "01" for a in "xyz"] == [
            b + o for b, o in zip(bbox, OFFSET + OFFSET)]
        centroid = [s / voxels + o for s, o in zip(sums, OFFSET)]
        assert [float(r[f"centroid_{a}"]) for a in "xyz"] == centroid
        assert [float(r[a]) for a in "xyz"] == [c * res for c, res in zip(centroid, RESOLUTION)]


def test_segment_properties_are_referenced_and_match_the_table(result):
    job, store, ref = result
    info = json.loads(store.read("segmentation/info"))
    assert info["type"] == "segmentation" and info["data_type"] == "uint32"
    assert info["segment_properties"] == "segment_properties"
    assert all(s["encoding"] == "compressed_segmentation" and "sharding" in s for s in info["scales"])
    props = json.loads(store.read("segmentation/segment_properties/info"))
    assert props["@type"] == "neuroglancer_segment_properties"
    inline = props["inline"]
    byid = {p["id"]: p for p in inline["properties"]}
    assert [p["type"] for p in inline["properties"]].count("label") == 1
    assert inline["ids"] == [str(i) for i in range(1, len(np.unique(ref)))]
    voxels = np.bincount(read_scale(store, 0).ravel())[1:]
    assert byid["voxels"]["values"] == voxels.tolist() and byid["voxels"]["data_type"] == "uint32"
    assert all(len(p["values"]) == len(inline["ids"]) for p in inline["properties"])


def test_downsampled_scales_equal_numpy_mode(result):
    job, store, ref = result
    info = json.loads(store.read("segmentation/info"))
    assert len(info["scales"]) > 2
    expected = read_scale(store, 0)
    for mip in range(1, len(info["scales"])):
        prev, cur = info["scales"][mip - 1], info["scales"][mip]
        factor = [round(c / p) for c, p in zip(cur["resolution"], prev["resolution"])]
        expected = mode_downsample(expected, factor)
        np.testing.assert_array_equal(read_scale(store, mip), expected, err_msg=f"scale {mip}")


def test_remap_tasks_are_the_segmentation_blocks(result):
    """A remap task owns whole shards because its block is a block of the segmentation's first
    multiscale wave (whose shard ownership tests/test_pyramid.py checks)."""
    job, store, ref = result
    layout = Layout(job, descriptor.load(store))
    blocks = layout.multiscale.wave_blocks(0)
    assert [{"lo": t.lo, "hi": t.hi} for t in layout.block_tasks()] == blocks
    assert len(blocks) == 27


def _digest(store, prefixes):
    return {k: hashlib.sha256(store.read(k)).hexdigest() for p in prefixes for k in store.list(p)}


def test_tasks_rewrite_the_same_bytes(result):
    job, store, ref = result
    if job.stage("cc")["nummergetasks"] != 27:
        pytest.skip("checked once, on the case with every kind of wave")
    before = _digest(store, ["cc/", "segmentation/", "segments.csv"])
    plans = {k: json.loads(store.read(k)) for k in store.list(jobroot.plan_prefix("cc"))}
    for plan in plans.values():
        inprocess.run(STAGE, job, store, plan["wave"], 0, plan["tasks"][0])
    assert _digest(store, ["cc/", "segmentation/", "segments.csv"]) == before
    assert {p["wave"] for p in plans.values()} >= {"blocks", "merge", "combine1", "finalize", "remap", "downsample1"}


def test_intermediates_are_deleted_unless_kept(result):
    job, store, _ = result
    left = sorted(store.list("cc/"))
    if job.stage("cc")["keep_intermediates"]:
        assert any(k.startswith("cc/faces/") for k in left) and "cc/mapping" in left
    else:
        assert left == ["cc/descriptor.json", "cc/segments.json"]
        assert json.loads(store.read(jobroot.plan_key("cc.tidy")))["count"] == 1


# -- bad input ------------------------------------------------------------------------------


def _refused(tmp_path, match, **options):
    job = cc_job(tmp_path / "out", options.pop("descriptor", "file://" + str(tmp_path / "clefts")), **options)
    with pytest.raises(TaskError, match=match):
        run_job(job)


@pytest.mark.parametrize("dtype", ["uint64", "int16"])
def test_descriptor_of_a_type_we_do_not_threshold(tmp_path, dtype):
    write_descriptor("file://" + str(tmp_path / "clefts"), np.zeros((8, 8, 8), dtype), "tensorstore")
    _refused(tmp_path, rf"stages\.cc\.descriptor: .*clefts/ has data_type '{dtype}'")


def test_missing_descriptor(tmp_path):
    _refused(tmp_path, r"stages\.cc\.descriptor: no precomputed volume at .*nowhere/",
             descriptor=str(tmp_path / "nowhere"))


@pytest.mark.parametrize("dtype,ccthresh", [("uint8", 255), ("uint8", -1), ("float32", 1e39)])
def test_threshold_out_of_the_descriptor_range(tmp_path, dtype, ccthresh):
    write_descriptor("file://" + str(tmp_path / "clefts"), np.zeros((8, 8, 8), dtype), "tensorstore")
    _refused(tmp_path, rf"stages\.cc\.ccthresh: .* outside the range .* {dtype} values", ccthresh=ccthresh)


def test_scale_that_does_not_exist(tmp_path):
    write_descriptor("file://" + str(tmp_path / "clefts"), np.zeros((8, 8, 8), "uint8"), "tensorstore")
    _refused(tmp_path, r"stages\.cc\.scale: scale 2 does not exist in .*: it has 1 scale ", scale=2)


def test_gzipped_cloudvolume_chunks_are_named(tmp_path):
    url = "file://" + str(tmp_path / "clefts")
    info = CloudVolume.create_new_info(1, "image", "uint8", "raw", RESOLUTION, OFFSET, [8, 8, 8], chunk_size=[8, 8, 8])
    cv = CloudVolume(url, info=info, progress=False)   # compress by default: <chunk>.gz
    cv.commit_info()
    cv[cv.bounds] = np.ones((8, 8, 8, 1), np.uint8)
    _refused(tmp_path, r"stages\.cc\.descriptor: .*gzipped chunk files .*compress=False", ccthresh=0)


@pytest.mark.parametrize("options,match", [
    ({"block": [48, 32, 32]}, r"stages\.cc\.block: block\[0\] \(48\) must be chunk\[0\] \(16\) times a power of two"),
    ({"block": [16, 32, 32]}, r"stages\.cc\.block: .*at least 2"),
    ({"block": [4096, 4096, 256], "chunk": [64, 64, 64]}, r"stages\.cc\.block: a block of .* too large"),
    ({"connectivity": 8}, r"stages\.cc\.connectivity: must be one of 6, 18, 26"),
    ({"descriptor": "clefts/"}, r"stages\.cc\.descriptor: must be an absolute path"),
    ({"nummergetasks": 0}, r"stages\.cc\.nummergetasks: must be at least 1"),
])
def test_options_are_checked_before_anything_runs(tmp_path, options, match):
    with pytest.raises(ConfigError, match=match):
        cc_job(tmp_path, "file://" + str(tmp_path / "clefts"), **options)


def test_a_corrupt_descriptor_chunk_fails_only_its_task(tmp_path):
    vol, _ = descriptor_volume("float32")
    write_descriptor("file://" + str(tmp_path / "clefts"), vol, "tensorstore")
    (tmp_path / "clefts" / "4_4_8" / "64-88_32-52_8-24").write_bytes(b"truncated")
    job = load_job({**json.loads(cc_job(tmp_path / "out", str(tmp_path / "clefts")).to_json()),
                             "attempts": 1})
    store = run_job(job)
    failed = failures.failed_tasks(store, "cc.blocks")
    assert failed == [0]
    record = json.loads(store.read(failures.failed_key("cc.blocks", 0)))
    assert "clefts/ scale 0 box [0, 0, 0]-[32, 32, 32]" in record["error"] and record["traceback"] is None
    assert len(list(store.list(jobroot.marker_prefix("cc.blocks")))) == 26
