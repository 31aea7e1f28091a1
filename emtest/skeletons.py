"""Helpers of the skeleton tests and benchmark: segmentations of long curved tubes (objects that
cross many chunks), running the skeleton stage, and measuring skeletons independently of the
stage's own code (scipy's graph routines, the labels themselves)."""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from emcore.job import load_job
from emcore.storage import open_storage
from orchestrator import engine
from orchestrator.local import LocalRunner


def tubes(shape, lanes: dict, radius: float = 3.5, wiggle: float = 4.0, branch_at: float = 0.375,
          seed: int = 0) -> np.ndarray:
    """Tubes (ids 1, 2, ...) that are smooth random curves from one face of the volume to the
    opposite one, wiggling by up to `wiggle` voxels about their lane: `lanes` maps an axis (0: x,
    1: y) to [(across, z), ...], the lane's two other coordinates in voxels. Every third tube has
    a branch of the same id up to the top face, `branch_at` of the way along. Lanes kept `wiggle + radius` off chunk faces keep
    every tube crossing chunk faces, never running along one (a tube running along a chunk face is
    skeletonized on either side of it: docs/skeleton.md)."""
    rng = np.random.default_rng(seed)
    shape = np.asarray(shape)
    out = np.zeros(tuple(shape), np.uint32)
    tubes_ = [(along, lane) for along in sorted(lanes) for lane in lanes[along]]
    for k, (along, (across_at, z_at)) in enumerate(tubes_):
        across = 1 - along
        t = np.linspace(0, 1, 4 * int(shape.max()))
        centre = np.zeros((len(t), 3))
        centre[:, along] = 1 + t * (shape[along] - 3)
        centre[:, across] = across_at + wiggle * np.sin(2 * np.pi * (t + rng.random()))
        centre[:, 2] = z_at + 0.5 * wiggle * np.sin(2 * np.pi * (1.5 * t + rng.random()))
        if k % 3 == 0:
            mid = centre[int(branch_at * len(t))]
            s = np.linspace(0, 1, 2 * int(shape[2]))[:, None]
            centre = np.concatenate([centre, mid + s * (np.array([mid[0], mid[1], shape[2] - 2.0]) - mid)])
        line = np.zeros(tuple(shape), bool)
        line[tuple(np.clip(np.rint(centre).astype(int), 0, shape - 1).T)] = True
        out[(ndimage.distance_transform_edt(~line) <= radius) & (out == 0)] = k + 1
    return out


def run_skeleton_job(dest, options: dict, resolution):
    job = load_job({"id": "skeleton", "dest": str(dest), "resolution": list(resolution),
                    "stages": {"skeleton": options}})
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    return job, store, LocalRunner(job, store, workers=0).run()


def is_tree(vertices: np.ndarray, edges: np.ndarray) -> bool:
    """One connected component and no cycle (edges = vertices - 1, no duplicate edge)."""
    n = len(vertices)
    if n == 0 or len(edges) != n - 1 or len(np.unique(np.sort(edges, axis=1), axis=0)) != len(edges):
        return False
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[0] == 1


def path_length(vertices: np.ndarray, edges: np.ndarray) -> float:
    return float(np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1).sum())


def labels_at(labels: np.ndarray, vertices_nm: np.ndarray, resolution, voxel_offset) -> np.ndarray:
    """The label of the voxel each vertex (nm, in the layer's frame) lies in."""
    v = np.rint(vertices_nm / np.asarray(resolution) - np.asarray(voxel_offset)).astype(int)
    return labels[tuple(v.T)]
