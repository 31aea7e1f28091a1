"""cc cases with known answers: a thresholded volume whose objects cross every kind of block
boundary, the exact statistics (voxels, coordinate sums, boxes) of a whole-volume labelling, a
descriptor written by CloudVolume or TensorStore, and a job run by the local backend."""
from __future__ import annotations

import itertools

import numpy as np
import tensorstore as ts
from cloudvolume import CloudVolume

from emcore.storage import open_storage
from functions.cc.grid import grid_shape
from orchestrator import engine
from orchestrator.local import LocalRunner

SHAPE = (96, 80, 72)
RESOLUTION, OFFSET = [4, 4, 8], [64, 32, 8]   # anisotropic: x and y are halved first


def _link(vol, corner, d, value=1.0):
    """Two 5-voxel pieces that touch only diagonally across the block boundaries at `corner`
    (an edge when d has two non-zero components, a corner when three)."""
    c = np.asarray(corner)
    lo, hi = np.maximum(c - 6, 0), c + 6
    vol[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = 0
    p = np.array([ci - 1 if di > 0 else ci if di < 0 else ci + 2 for ci, di in zip(c, d)])
    q = p + d
    axis = next(i for i in range(3) if d[i])
    for start, step in ((p, -d[axis]), (q, d[axis])):
        for k in range(5):
            v = start.copy()
            v[axis] += step * k
            if all(0 <= x < n for x, n in zip(v, vol.shape)):
                vol[tuple(v)] = value


def make_volume(block, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vol = rng.random(SHAPE, dtype=np.float32) * 0.5           # background, some exactly 0.5
    vol[rng.random(SHAPE) < 0.002] = 0.5
    vol[rng.random(SHAPE) < 0.04] = 0.9                       # sparse specks: dust, diagonal contacts
    dense = (slice(20, 50), slice(20, 45), slice(15, 40))     # near-percolating region over corners
    vol[dense][rng.random(vol[dense].shape) < 0.2] = 0.8
    grid = np.indices(SHAPE).transpose(1, 2, 3, 0)
    for _ in range(12):                                        # blobs
        centre = rng.uniform(0, SHAPE)
        radius = rng.uniform(2, 8)
        vol[np.sum((grid - centre) ** 2, axis=-1) < radius ** 2] = 1.0
    for _ in range(8):                                         # one-voxel snakes with diagonal steps
        p = rng.integers(0, SHAPE)
        for _ in range(300):
            p = np.clip(p + rng.integers(-1, 2, 3), 0, np.array(SHAPE) - 1)
            vol[tuple(p)] = 0.7
    g = grid_shape(SHAPE, block)
    corners = [np.array([(i + 1) * c for i, c in zip(k, block)])
               for k in itertools.product(*(range(n - 1) for n in g))]
    directions = [(1, 1, 1), (1, -1, 1), (-1, 1, 1), (1, 1, -1), (1, 1, 0), (0, 1, -1), (1, 0, 1),
                  (-1, 1, 0)]
    for corner, d in zip(corners, itertools.cycle(directions)):
        _link(vol, corner, np.array(d))
    return vol


def oracle_stats(ref):
    """Voxels, exact coordinate sums and [lo, hi) boxes per label of a whole-volume labelling."""
    idx = np.flatnonzero(ref)
    lab = ref.ravel()[idx]
    coords = np.stack(np.unravel_index(idx, ref.shape), axis=1).astype(np.int64)
    order = np.argsort(lab, kind="stable")
    lab, coords = lab[order], coords[order]
    starts = np.flatnonzero(np.concatenate([[True], lab[1:] != lab[:-1]]))
    return {int(k): (int(n), s.tolist(), lo.tolist() + (hi + 1).tolist())
            for k, n, s, lo, hi in zip(lab[starts], np.diff(np.append(starts, lab.size)),
                                       np.add.reduceat(coords, starts),
                                       np.minimum.reduceat(coords, starts),
                                       np.maximum.reduceat(coords, starts))}


def write_descriptor(url: str, vol: np.ndarray, writer: str, chunk=(24, 20, 16)) -> None:
    """Raw precomputed, chunked unlike the cc grid so that tasks read across chunks."""
    if writer == "cloudvolume":
        info = CloudVolume.create_new_info(1, "image", vol.dtype.name, "raw", RESOLUTION, OFFSET,
                                           list(vol.shape), chunk_size=list(chunk))
        cv = CloudVolume(url, info=info, compress=False, progress=False)
        cv.commit_info()
        cv[tuple(slice(o, o + n) for o, n in zip(OFFSET, vol.shape))] = vol[..., None]
        return
    spec = {"driver": "neuroglancer_precomputed", "kvstore": url,
            "multiscale_metadata": {"type": "image", "data_type": vol.dtype.name, "num_channels": 1},
            "scale_metadata": {"size": list(vol.shape), "resolution": RESOLUTION, "voxel_offset": OFFSET,
                               "chunk_size": list(chunk), "encoding": "raw"}}
    store = ts.open(spec, create=True, delete_existing=True).result()
    store[tuple(slice(o, o + n) for o, n in zip(OFFSET, vol.shape)) + (0,)].write(vol).result()


def run_job(job):
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    LocalRunner(job, store, workers=0).run()
    return store
