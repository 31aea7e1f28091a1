"""Helpers of the mesh tests and benchmarks: run the mesh stage on a segmentation, read meshes
back with CloudVolume, and measure them independently of the stage's own code."""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from emcore.job import load_job
from emcore.storage import open_storage
from orchestrator import engine
from orchestrator.local import LocalRunner


def run_mesh_job(dest, mesh_options: dict, resolution=(8, 8, 8)):
    job = load_job({"id": "mesh", "dest": str(dest), "resolution": list(resolution),
                             "stages": {"mesh": mesh_options}})
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    stats = LocalRunner(job, store, workers=0).run()
    return job, store, stats


def joined(mesh, resolution, voxel_offset=(0, 0, 0)):
    """A CloudVolume mesh (fragments concatenated) as one indexed mesh with vertices merged by
    position. Every vertex the stage makes lies on the half-voxel lattice of the meshed scale, and
    16-bit quantization moves it by far less than a quarter voxel: snap to that lattice, merge."""
    res = np.asarray(resolution, np.float64)
    half = np.rint((mesh.vertices.astype(np.float64) / res - np.asarray(voxel_offset)) * 2).astype(np.int64)
    unique, inverse = np.unique(half, axis=0, return_inverse=True)
    faces = inverse.reshape(-1)[np.asarray(mesh.faces, np.int64)]
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    points = (unique * 0.5 + np.asarray(voxel_offset)) * res
    return points, faces


def edge_face_counts(faces: np.ndarray) -> np.ndarray:
    """How many faces each undirected edge has."""
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    return counts


def oriented_consistently(faces: np.ndarray) -> bool:
    """Each directed edge appears once: neighbouring faces agree on orientation."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return len(np.unique(e, axis=0)) == len(e)


def enclosed_volume(points: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = points[faces[:, 0]], points[faces[:, 1]], points[faces[:, 2]]
    return abs(float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6)


def sample_surface(points, faces, spacing, rng):
    a, b, c = (points[faces[:, i]] for i in range(3))
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    n = np.maximum(1, np.ceil(2 * area / spacing ** 2).astype(np.int64))
    idx = np.repeat(np.arange(len(faces)), n)
    r1, r2 = rng.random(len(idx)), rng.random(len(idx))
    s = np.sqrt(r1)
    p = (1 - s)[:, None] * a[idx] + (s * (1 - r2))[:, None] * b[idx] + (s * r2)[:, None] * c[idx]
    return np.concatenate([p, points[np.unique(faces)]])


def hausdorff(mesh_a, mesh_b, spacing, seed=0) -> float:
    """Two-sided distance between two surfaces, from random samples (`spacing` apart on average)
    of each and nearest neighbours: within ~spacing of the true Hausdorff distance."""
    rng = np.random.default_rng(seed)
    pa, pb = sample_surface(*mesh_a, spacing, rng), sample_surface(*mesh_b, spacing, rng)
    return float(max(cKDTree(pb).query(pa)[0].max(), cKDTree(pa).query(pb)[0].max()))
