"""Which segments have a mesh (orchestrator/meshed.py), read from the sharded mesh's indices, agrees
with CloudVolume reading the meshes; the viewer selects the largest of those only (a selected
segment without a mesh would keep Neuroglancer from ever being ready), and the demo's summary
counts them."""
from __future__ import annotations

import json

import numpy as np
import pytest
from cloudvolume import CloudVolume

from emtest.mesh_data import spheres, write_segmentation
from orchestrator.meshed import meshed
from orchestrator.outputs import describe_outputs
from orchestrator.viewer import layers_of
from emtest.mesh import run_mesh_job

IDS = [7, 9, 12, 30]
RADII = [14, 6, 10, 4]


@pytest.fixture(scope="module")
def meshed_root(tmp_path_factory):
    dest = tmp_path_factory.mktemp("meshed")
    labels = spheres((64, 64, 32), [(20, 20, 16), (50, 12, 8), (44, 44, 16), (8, 56, 24)], RADII, ids=IDS)
    write_segmentation(str(dest / "segmentation"), labels, (8, 8, 16), chunk=(32, 32, 32))
    # Segment properties as the cc stage writes them: sizes the viewer ranks segments by.
    ids, voxels = np.unique(labels[labels > 0], return_counts=True)
    properties = {"@type": "neuroglancer_segment_properties", "inline": {
        "ids": [str(i) for i in ids],
        "properties": [{"id": "voxels", "type": "number", "data_type": "uint32", "values": voxels.tolist()}]}}
    (dest / "segmentation" / "segment_properties").mkdir()
    (dest / "segmentation" / "segment_properties" / "info").write_text(json.dumps(properties))
    info = json.loads((dest / "segmentation" / "info").read_text())
    (dest / "segmentation" / "info").write_text(json.dumps(dict(info, segment_properties="segment_properties")))
    # 9 is left out: a segment with no mesh.
    _, store, _ = run_mesh_job(dest, {"block": [32, 32, 32], "lods": 1, "object_ids": [7, 12, 30]}, (8, 8, 16))
    return dest, store


def test_meshed_agrees_with_cloudvolume(meshed_root):
    dest, store = meshed_root
    asked = IDS + [99]
    found = meshed(store, asked)
    cv = CloudVolume(f"file://{dest}/segmentation", progress=False)
    readable = []
    for i in asked:
        try:
            mesh = cv.mesh.get(i)
        except Exception:         # CloudVolume raises for an id the shard does not hold
            continue
        if len((mesh[i] if isinstance(mesh, dict) else mesh).vertices):
            readable.append(i)
    assert found == readable == [7, 12, 30]


def test_the_viewer_selects_the_largest_meshed_segments(meshed_root):
    _, store = meshed_root
    (segmentation,) = [layer for layer in layers_of(store, "http://x") if layer["type"] == "segmentation"]
    # By size: 7 (radius 14), 12 (10), 9 (6), 30 (4); 9 has no mesh and is not selected.
    assert segmentation["segments"] == ["7", "12", "30"]
    assert segmentation["notSelectedAlpha"] > 0, "the other segments stay coloured in the sections"


def test_the_summary_counts_the_meshes(meshed_root):
    _, store = meshed_root
    lines = describe_outputs(store)
    assert any(line.startswith("segmentation/mesh/") and "of 3 of 4 segments" in line for line in lines), lines
