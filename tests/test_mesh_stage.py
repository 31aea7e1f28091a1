"""The mesh stage end to end on segmentations written here with TensorStore, read back with
CloudVolume's multi-resolution mesh reader, and measured independently: closed surfaces, volume,
distance to the unsimplified surface, levels of detail, the job's own vs a user's segmentation."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from cloudvolume import CloudVolume

from emtest.mesh_data import cells, spheres, write_segmentation
from emcore.jobroot import plan_key
from emtest.mesh import (edge_face_counts, enclosed_volume, hausdorff, joined,
                                     oriented_consistently, run_mesh_job)

RES = (6, 6, 16)
OFFSET = (32, 16, 8)
CHUNK = [32, 32, 16]          # x divides the volume (closing caps fall in an extra node), y, z do not
ERROR = 30
LODS = 3


def labels() -> np.ndarray:
    """Cells crossing many chunks and every face of the volume, plus a ball crossing 8 chunks."""
    out = cells((96, 80, 40), n=24, seed=3)
    ball = spheres(out.shape, [(48, 40, 20)], [14], ids=[1000])
    out[ball > 0] = 1000
    return out


@pytest.fixture(scope="module")
def volume():
    return labels()


@pytest.fixture(scope="module")
def meshed(tmp_path_factory, volume):
    """The same segmentation meshed twice: unsimplified (one level), and simplified with LODS levels."""
    out = {}
    for name, error, lods in (("exact", 0, 1), ("simplified", ERROR, LODS)):
        dest = tmp_path_factory.mktemp(name)
        write_segmentation(str(dest / "segmentation"), volume, RES, OFFSET, chunk=(32, 32, 16))
        run_mesh_job(dest, {"block": CHUNK, "simplification_error": error, "lods": lods}, RES)
        out[name] = CloudVolume(f"file://{dest}/segmentation", mip=0, progress=False)
    return out


def test_intermediates_are_deleted(meshed):
    """mesh.tidy leaves no per-chunk mesh or merge list behind."""
    for cv in meshed.values():
        root = cv.meta.cloudpath.replace("file://", "").rsplit("/segmentation", 1)[0]
        left = [f for _, _, files in os.walk(os.path.join(root, "mesh-tmp")) for f in files]
        assert os.path.isfile(os.path.join(root, plan_key("mesh.tidy"))) and left == []


def ids_of(volume):
    ids, counts = np.unique(volume[volume > 0], return_counts=True)
    return [int(i) for i in ids], dict(zip(ids.tolist(), counts.tolist()))


def test_info_and_reference_follow_the_spec(meshed):
    cv = meshed["simplified"]
    assert cv.info["mesh"] == "mesh"
    info = json.loads(open(os.path.join(cv.cloudpath.replace("file://", ""), "mesh", "info")).read())
    assert info["@type"] == "neuroglancer_multilod_draco"
    assert info["vertex_quantization_bits"] == 16 and len(info["transform"]) == 12
    assert info["sharding"]["hash"] == "murmurhash3_x86_128"
    assert info["lod_scale_multiplier"] == 1.0


def test_every_object_is_closed_at_every_level(meshed, volume):
    ids, _ = ids_of(volume)
    for name, cv in meshed.items():
        for lod in range(LODS if name == "simplified" else 1):
            meshes = cv.mesh.get(ids, lod=lod)
            assert sorted(meshes) == ids, (name, lod)
            for i in ids:
                points, faces = joined(meshes[i], RES, OFFSET)
                counts = edge_face_counts(faces)
                assert (counts == 2).all(), f"{name} lod {lod}: object {i} has edges with {sorted(set(counts) - {2})} faces"
                assert oriented_consistently(faces), (name, lod, i)


def surface_area(points, faces) -> float:
    a, b, c = (points[faces[:, i]] for i in range(3))
    return float(0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum())


def test_enclosed_volume_matches_voxel_count(meshed, volume):
    """Unsimplified: within 1.5% of the voxels' volume (marching cubes cuts the voxels' corners).
    Simplified: moved by at most the surface area times the error bound."""
    ids, counts = ids_of(volume)
    voxel = float(np.prod(RES))
    big = [i for i in ids if counts[i] >= 3000]
    assert 1000 in big and len(big) >= 10
    exact = meshed["exact"].mesh.get(big, lod=0)
    simplified = meshed["simplified"].mesh.get(big, lod=0)
    for i in big:
        mesh = joined(exact[i], RES, OFFSET)
        assert enclosed_volume(*mesh) == pytest.approx(counts[i] * voxel, rel=0.015), i
        change = abs(enclosed_volume(*joined(simplified[i], RES, OFFSET)) - enclosed_volume(*mesh))
        assert change <= surface_area(*mesh) * ERROR, i


def test_simplified_surfaces_stay_within_the_error(meshed, volume):
    ids, counts = ids_of(volume)
    largest = sorted(ids, key=lambda i: -counts[i])[:6]
    exact = meshed["exact"].mesh.get(largest, lod=0)
    spacing = 3.0
    for lod in range(LODS):
        simplified = meshed["simplified"].mesh.get(largest, lod=lod)
        for i in largest:
            a, b = joined(exact[i], RES, OFFSET), joined(simplified[i], RES, OFFSET)
            if lod == 0:
                assert len(b[1]) < len(a[1]) / 3, f"object {i}: too little simplification"
            assert hausdorff(a, b, spacing) <= ERROR * 2 ** lod + spacing, (lod, i)


def test_unsimplified_mesh_is_the_surface_of_the_voxels(meshed, volume):
    """Level 0 without simplification lies on the voxels' faces and edges: every vertex is
    halfway between a voxel of the object and one outside it (or at the volume's face)."""
    ids, _ = ids_of(volume)
    meshes = meshed["exact"].mesh.get(ids[:5], lod=0)
    padded = np.pad(volume, 1)
    for i in ids[:5]:
        points, _ = joined(meshes[i], RES, OFFSET)
        half = np.rint((points / RES - OFFSET) * 2).astype(np.int64)
        odd = half % 2 == 1
        assert (odd.sum(axis=1) == 2).all()          # on an edge between two voxel centres
        lo = (half - 1) // 2 + 1                      # the two voxels the edge joins (padded index)
        hi = lo + (~odd)
        a = padded[lo[:, 0], lo[:, 1], lo[:, 2]] == i
        b = padded[hi[:, 0], hi[:, 1], hi[:, 2]] == i
        assert (a != b).all()
