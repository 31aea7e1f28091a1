"""The skeleton stage end to end on a segmentation whose objects cross many chunks, read back with
CloudVolume's sharded skeleton reader, and compared with kimimaro run on the whole volume in one
piece: one connected tree per object, inside it, path length within 5 %."""
from __future__ import annotations

import json
import os

import kimimaro
import numpy as np
import pytest
from cloudvolume import CloudVolume

from emtest.mesh_data import cells, write_segmentation
from emcore.stage import TaskError
from emtest.skeletons import is_tree, labels_at, path_length, run_skeleton_job, tubes

RES = (8, 8, 12)
OFFSET = (16, 8, 4)
CHUNK = [48, 48, 24]          # 4 x 4 x 2 chunks; y does not divide the volume
TEASAR = {"scale": 2, "const": 100}
DUST = 50


@pytest.fixture(scope="module")
def volume():
    # x tubes in y lanes and y tubes in x lanes at chunk centres, z lanes in either z chunk.
    return tubes((192, 160, 48), {0: [(24, 12), (72, 36), (120, 12)], 1: [(24, 36), (120, 12), (168, 36)]},
                 radius=5, seed=1)


@pytest.fixture(scope="module")
def skeletonized(tmp_path_factory, volume):
    dest = tmp_path_factory.mktemp("skel")
    write_segmentation(str(dest / "segmentation"), volume, RES, OFFSET, chunk=(32, 32, 16))
    run_skeleton_job(dest, {"block": CHUNK, "teasar_params": TEASAR, "dust_threshold": DUST}, RES)
    return dest, CloudVolume(f"file://{dest}/segmentation", mip=0, progress=False)


@pytest.fixture(scope="module")
def whole(volume):
    """kimimaro on the whole volume in one piece: the oracle."""
    return kimimaro.skeletonize(volume, teasar_params=TEASAR, anisotropy=RES, dust_threshold=DUST,
                                fix_branching=True, progress=False)


def test_objects_cross_many_chunks(volume):
    for oid in range(1, 7):
        x, y, z = np.nonzero(volume == oid)
        chunks = {(a // CHUNK[0], b // CHUNK[1], c // CHUNK[2]) for a, b, c in zip(x, y, z)}
        assert len(chunks) >= 4


def test_each_object_is_one_tree_inside_it(skeletonized, volume, whole):
    _, cv = skeletonized
    assert sorted(whole) == list(range(1, 7))
    for oid in sorted(whole):
        skel = cv.skeleton.get(oid)
        vertices, edges = skel.vertices.astype(np.float64), skel.edges.astype(np.int64)
        assert is_tree(vertices, edges), oid
        assert (labels_at(volume, vertices, RES, OFFSET) == oid).all(), oid
        assert skel.radius.shape == (len(vertices),) and (skel.radius > 0).all()


def test_path_lengths_within_5_percent_of_kimimaro_whole(skeletonized, whole):
    _, cv = skeletonized
    for oid in sorted(whole):
        skel = cv.skeleton.get(oid)
        expected = path_length(whole[oid].vertices.astype(np.float64), whole[oid].edges)
        assert abs(path_length(skel.vertices.astype(np.float64), skel.edges) - expected) <= 0.05 * expected, oid


def test_dense_neuropil_gives_one_tree_inside_each_object(tmp_path):
    """Cells packed like neuropil touch every chunk face in many places: pieces that end in
    isolated points, loops where pieces meet; still one tree per object, inside it."""
    volume = cells((96, 96, 48), n=12, seed=2)
    write_segmentation(str(tmp_path / "segmentation"), volume, RES, OFFSET)
    run_skeleton_job(tmp_path, {"block": [32, 32, 16], "teasar_params": {"scale": 4, "const": 500}}, RES)
    cv = CloudVolume(f"file://{tmp_path}/segmentation", progress=False)
    ids = [int(i) for i in np.unique(volume) if i]
    for skel in cv.skeleton.get(ids):
        assert is_tree(skel.vertices, skel.edges.astype(np.int64)), skel.id
        assert (labels_at(volume, skel.vertices.astype(np.float64), RES, OFFSET) == skel.id).all(), skel.id
    assert len(cv.skeleton.get(ids)) == len(ids)


def test_segmentation_info_references_sharded_skeletons(skeletonized):
    dest, _ = skeletonized
    info = json.loads((dest / "segmentation" / "info").read_text())
    skeletons = json.loads((dest / "segmentation" / "skeletons" / "info").read_text())
    assert info["skeletons"] == "skeletons"
    assert skeletons["@type"] == "neuroglancer_skeletons"
    assert skeletons["sharding"]["@type"] == "neuroglancer_uint64_sharded_v1"
    assert not [f for _, _, files in os.walk(dest / "skeleton-tmp") for f in files]


def test_object_ids_select(tmp_path, volume):
    write_segmentation(str(tmp_path / "seg"), volume, RES, OFFSET)
    run_skeleton_job(tmp_path / "job", {"segmentation": str(tmp_path / "seg"), "block": CHUNK,
                                        "teasar_params": TEASAR, "object_ids": [2, 3]}, RES)
    assert "skeletons" not in json.loads((tmp_path / "seg" / "info").read_text())
    info = json.loads((tmp_path / "job" / "skeletons" / "info").read_text())
    (tmp_path / "view").mkdir()
    seg_info = json.loads((tmp_path / "seg" / "info").read_text())
    (tmp_path / "view" / "info").write_text(json.dumps(dict(seg_info, skeletons="skeletons")))
    os.symlink(tmp_path / "job" / "skeletons", tmp_path / "view" / "skeletons")
    cv = CloudVolume(f"file://{tmp_path}/view", progress=False)
    assert info["sharding"] and sorted(s.id for s in cv.skeleton.get([2, 3])) == [2, 3]
    with pytest.raises(Exception):
        cv.skeleton.get(1)


def test_image_layer_is_refused(tmp_path, volume):
    write_segmentation(str(tmp_path / "seg"), volume, RES)
    info = json.loads((tmp_path / "seg" / "info").read_text())
    (tmp_path / "seg" / "info").write_text(json.dumps(dict(info, type="image")))
    with pytest.raises(TaskError, match=r"stages\.skeleton\.segmentation: .* 'image' layer, not a segmentation"):
        run_skeleton_job(tmp_path / "job", {"segmentation": str(tmp_path / "seg")}, RES)


def test_unknown_teasar_parameter_is_refused(tmp_path):
    from emcore.job import load_job
    from emcore.schema import ConfigError
    with pytest.raises(ConfigError, match=r"stages\.skeleton\.teasar_params.*unknown key 'sclae'"):
        load_job({"id": "s", "dest": str(tmp_path), "resolution": list(RES),
                  "stages": {"skeleton": {"teasar_params": {"sclae": 2}}}})
