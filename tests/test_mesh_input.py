"""The mesh stage on a user's segmentation (read-only, outside the job), with object selection and
size filtering, and its errors for bad input: each names the option or the object."""
from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
from cloudvolume import CloudVolume

from emtest.mesh_data import spheres, write_segmentation
from emcore.stage import TaskError
from emtest.mesh import edge_face_counts, joined, run_mesh_job

RES = (8, 8, 8)


def balls() -> np.ndarray:
    """Three balls (ids 5, 7, 9; 9 is tiny) and one touching three faces of the volume (11)."""
    return spheres((60, 50, 40), [(20, 20, 20), (42, 30, 20), (50, 8, 8), (0, 0, 0)], [10, 9, 2, 12],
                   ids=[5, 7, 9, 11])


def view(tmp_path, seg_url: str, mesh_dir: str) -> CloudVolume:
    """How a user points a reader at meshes kept apart from a read-only segmentation: a copy of
    its info with "mesh" naming a directory beside it (here, a link to `<dest>/mesh`)."""
    info = json.loads(open(os.path.join(seg_url, "info")).read())
    root = tmp_path / "view"
    root.mkdir()
    (root / "info").write_text(json.dumps(dict(info, mesh="mesh")))
    os.symlink(mesh_dir, root / "mesh")
    return CloudVolume(f"file://{root}", progress=False)


def read_only(path):
    for dirpath, _, files in os.walk(path):
        os.chmod(dirpath, stat.S_IRUSR | stat.S_IXUSR)
        for f in files:
            os.chmod(os.path.join(dirpath, f), stat.S_IRUSR)


def test_user_segmentation_is_left_alone_and_filters_apply(tmp_path):
    seg = tmp_path / "user-seg"
    write_segmentation(str(seg), balls(), RES, (10, 20, 30), chunk=(32, 32, 32), sharded=True)
    before = (seg / "info").read_text()
    read_only(seg)
    try:
        run_mesh_job(tmp_path / "job", {"segmentation": str(seg), "block": [16, 16, 16], "lods": 2,
                                        "object_ids": [5, 9, 11], "min_voxels": 100}, RES)
    finally:
        for dirpath, _, files in os.walk(seg):
            os.chmod(dirpath, 0o755)
    assert (seg / "info").read_text() == before and not (seg / "mesh").exists()
    cv = view(tmp_path, str(seg), str(tmp_path / "job" / "mesh"))
    meshes = cv.mesh.get([5, 7, 9, 11], lod=0, allow_missing=True)
    assert sorted(meshes) == [5, 11]          # 7 not asked for, 9 below min_voxels
    for i in (5, 11):
        points, faces = joined(meshes[i], RES, (10, 20, 30))
        assert (edge_face_counts(faces) == 2).all()
        assert (points.min(axis=0) >= np.array([10, 20, 30]) * 8).all()


@pytest.fixture
def seg(tmp_path):
    write_segmentation(str(tmp_path / "seg"), balls(), RES)
    return tmp_path / "seg"


def failing(tmp_path, options, match):
    with pytest.raises(TaskError, match=match):
        run_mesh_job(tmp_path / "job", options, RES)


def test_image_layer_is_refused(tmp_path, seg):
    info = json.loads((seg / "info").read_text())
    (seg / "info").write_text(json.dumps(dict(info, type="image")))
    failing(tmp_path, {"segmentation": str(seg)}, r"stages\.mesh\.segmentation: .* 'image' layer, not a segmentation")


def test_missing_layer_is_refused(tmp_path):
    failing(tmp_path, {"segmentation": str(tmp_path / "nothing")}, r"stages\.mesh\.segmentation: no precomputed volume")


def test_scale_that_does_not_exist_is_refused(tmp_path, seg):
    failing(tmp_path, {"segmentation": str(seg), "mip": 2}, r"stages\.mesh\.mip: scale 2 does not exist .* 1 scale \(0 to 0\)")


def test_absent_object_is_refused(tmp_path, seg):
    failing(tmp_path, {"segmentation": str(seg), "object_ids": [5, 6, 1234]}, r"stages\.mesh\.object_ids: segments 6, 1234 not present")


def test_bad_options_are_config_errors():
    from emcore.job import load_job
    from emcore.schema import ConfigError
    for options, match in (({"object_ids": [0]}, r"object_ids: \[0\] must be a segment id"),
                           ({"block": [8, 64, 64]}, r"block\[0\]: must be at least 16"),
                           ({"segmentaton": "x"}, "did you mean 'segmentation'"),
                           ({"chunk": [64, 64, 64]}, r"stages\.mesh\.chunk: was renamed 'block'; use stages\.mesh\.block"),
                           ({"segmentation": "http://x/"}, "unsupported URL scheme")):
        with pytest.raises(ConfigError, match=match):
            load_job({"id": "m", "dest": "/tmp/x", "stages": {"mesh": options}})


def test_a_coarser_scale_is_meshed_in_its_own_voxels(tmp_path):
    """mip 1 of a two-scale layer: meshes in nm, from scale 1's resolution and voxel offset."""
    import tensorstore as ts

    from emcore.volume import kvstore_spec
    seg = tmp_path / "seg"
    labels = balls()
    write_segmentation(str(seg), labels, RES, (8, 8, 8), chunk=(32, 32, 32))
    coarse = labels[::2, ::2, ::2]
    store = ts.open({"driver": "neuroglancer_precomputed", "kvstore": kvstore_spec(str(seg)),
                     "scale_metadata": {"size": list(coarse.shape), "resolution": [16, 16, 16],
                                        "encoding": "compressed_segmentation", "chunk_size": [32, 32, 32],
                                        "voxel_offset": [4, 4, 4]}}, create=True).result()
    store[4:4 + coarse.shape[0], 4:4 + coarse.shape[1], 4:4 + coarse.shape[2], 0].write(coarse).result()
    run_mesh_job(tmp_path / "job", {"segmentation": str(seg), "mip": 1, "block": [16, 16, 16]}, RES)
    cv = view(tmp_path, str(seg), str(tmp_path / "job" / "mesh"))
    mesh = cv.mesh.get([5], lod=0)[5]
    points, faces = joined(mesh, (16, 16, 16), (4, 4, 4))
    assert (edge_face_counts(faces) == 2).all()
    # Ball 5: centre (20, 20, 20) + offset 8 voxels of 8 nm, radius 10 voxels -> 224 nm, 80 nm.
    centre = (points.min(axis=0) + points.max(axis=0)) / 2
    assert np.allclose(centre, 224, atol=16) and np.allclose(points.max(axis=0) - points.min(axis=0), 160, atol=32)
