"""A job with both `cc` and `mesh` runs them in one go: segment a descriptor, then mesh the
segmentation the cc stage wrote, into it. Skipped where the cc stage is not installed."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from emtest.mesh import edge_face_counts, joined

pytestmark = pytest.mark.skipif(importlib.util.find_spec("functions.cc.stage") is None,
                                reason="the cc stage is not installed")


def test_cc_then_mesh_in_one_job(tmp_path):
    import tensorstore as ts
    from cloudvolume import CloudVolume
    from scipy import ndimage

    from emcore.job import load_job
    from emcore.storage import open_storage
    from orchestrator import engine
    from orchestrator.local import LocalRunner

    rng = np.random.default_rng(4)
    field = ndimage.gaussian_filter(rng.standard_normal((64, 64, 48)), 3.0)
    descriptor = np.clip((field - np.quantile(field, 0.85)) / field.std() * 300 + 128, 0, 255).astype(np.uint8)
    ts.open({"driver": "neuroglancer_precomputed", "kvstore": f"file://{tmp_path}/descriptor/",
             "multiscale_metadata": {"type": "image", "data_type": "uint8", "num_channels": 1},
             "scale_metadata": {"size": list(descriptor.shape), "resolution": [8, 8, 8], "encoding": "raw",
                                "chunk_size": [32, 32, 32]}}, create=True).result()[..., 0].write(descriptor).result()
    job = load_job({"id": "ccmesh", "dest": str(tmp_path / "out"), "resolution": [8, 8, 8], "stages": {
        "cc": {"descriptor": f"file://{tmp_path}/descriptor/", "ccthresh": 127, "block": [32, 32, 32],
               "chunk": [16, 16, 16]},
        "mesh": {"block": [32, 32, 32], "lods": 2}}})
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    LocalRunner(job, store, workers=0).run()

    assert json.loads(store.read("segmentation/info"))["mesh"] == "mesh"
    cv = CloudVolume(f"file://{tmp_path}/out/segmentation", mip=0, progress=False)
    labels = np.asarray(cv[:, :, :])[..., 0]
    ids = [int(i) for i in np.unique(labels) if i]
    assert len(ids) >= 3
    meshes = cv.mesh.get(ids, lod=0)
    for i in ids:
        assert (edge_face_counts(joined(meshes[i], (8, 8, 8))[1]) == 2).all(), i
