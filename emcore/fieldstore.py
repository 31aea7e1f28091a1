"""The vector fields of the seamless stage (gpu-jobs/seamless) as stored under the job root: the
contract between that stage, which writes them, and align's render wave, which applies them, as
`tiles.py` is between render and the pyramid.

  seamless/images/     uint8 sections at `mip`, each already in the affine frame (0 = no data)
  seamless/pairs/      float32, 2*vote channels: channels 2(k-1), 2(k-1)+1 of slice z hold the
                       pair field P(z, z-k) (NaN where there is none)
  seamless/field/      float32, 2 channels: each section's final field D (the render input)
  seamless/field.json  the geometry and convention of `field/` (see emcore/fields.py)

All three are Neuroglancer precomputed volumes (raw, unsharded, chunks CHUNK x CHUNK x 1, so a
section task writes whole chunks of one slice and nobody else writes them), on the frame grid at
`mip`: size ceil(frame / 2**mip), resolution 2**mip times the job's in x and y, and z indexed as
the rendered stack is (voxel_offset z + z - minz). Field values are in scale-0 frame pixels.

From align: `align/transforms.json` (per section the 2x3 matrix section -> frame, flags; and the
frame size), through emcore/alignment.py. Without the align stage the frame is the sections' own
size, identity.
"""
from __future__ import annotations

import json

import numpy as np

from emcore.alignment import TRANSFORMS_KEY, read_transforms
from emcore.images import job_header
from emcore.job import Job
from emcore.precomputed import Precomputed, ScaleMeta
from emcore.stage import TaskError
from emcore.storage import NotFound, Storage, open_storage
from emcore.volume import Scale, open_scale

IMAGES, PAIRS, FIELD = "seamless/images", "seamless/pairs", "seamless/field"
META_KEY = "seamless/field.json"
CHUNK = 128
IDENTITY = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def affine_frame(job: Job, store: Storage) -> dict:
    """{"width", "height", "sections": {z: {"matrix", "blank"}}} for every z of the job."""
    if job.stage("align") is not None:
        doc = read_transforms(store)
        if doc is None:
            raise TaskError(f"{store.url}{TRANSFORMS_KEY} does not exist: the align solve has not run")
        by_z = {s["z"]: s for s in doc["sections"]}
        sections = {z: {"matrix": by_z[z]["matrix"] if z in by_z else IDENTITY,
                        "blank": "blank" in by_z.get(z, {}).get("flags", [])} for z in job.z_range}
        return {"width": int(doc["frame"]["width"]), "height": int(doc["frame"]["height"]), "sections": sections}
    source = open_storage(job.source)
    header = job_header(job, source, job.z_range.start)
    return {"width": header.width, "height": header.height,
            "sections": {z: {"matrix": IDENTITY, "blank": False} for z in job.z_range}}


def grid(meta: dict) -> tuple[int, int]:
    """(cols, rows) of the mip grid."""
    s = 1 << meta["mip"]
    return -(-meta["frame"][0] // s), -(-meta["frame"][1] // s)


def write_meta(store: Storage, meta: dict) -> None:
    store.write(META_KEY, (json.dumps(meta, indent=1, sort_keys=True) + "\n").encode())


def read_meta(store: Storage) -> dict | None:
    try:
        return json.loads(store.read(META_KEY))
    except NotFound:
        return None


def create(store: Storage, job: Job, meta: dict, prefix: str, dtype: str, channels: int) -> None:
    """Write the volume's `info` (deterministic bytes: a re-planned wave rewrites the same)."""
    s = 1 << meta["mip"]
    cols, rows = grid(meta)
    res, off = job.resolution, job.voxel_offset
    scale = Scale(0, (cols, rows, len(job.z_range)), (res[0] * s, res[1] * s, res[2]),
                  (off[0] // s, off[1] // s, off[2]), (1, 1, 1), (1, 1, 1))
    chunk = [min(CHUNK, cols), min(CHUNK, rows), 1]
    Precomputed.new(store.url + prefix, "image", dtype, [ScaleMeta.of(scale, chunk, "raw")], num_channels=channels).write()


def open_volume(store: Storage, prefix: str):
    return open_scale(store.url + prefix + "/", 0)


def _z(volume, job: Job, z: int) -> int:
    return int(volume.domain.inclusive_min[2]) + z - job.z_range.start


def write_slice(volume, job: Job, z: int, array: np.ndarray) -> None:
    """Store a (rows, cols[, channels]) array as slice z."""
    a = array if array.ndim == 3 else array[:, :, None]
    x0, y0 = (int(v) for v in volume.domain.inclusive_min[:2])
    k = _z(volume, job, z)
    volume[x0:x0 + a.shape[1], y0:y0 + a.shape[0], k:k + 1, :].write(a.transpose(1, 0, 2)[:, :, None, :]).result()


def read_slice(volume, job: Job, z: int) -> np.ndarray:
    """Slice z as (rows, cols, channels)."""
    k = _z(volume, job, z)
    return np.ascontiguousarray(volume[:, :, k, :].read().result().transpose(1, 0, 2))


def read_box(volume, job: Job, x: tuple[int, int], y: tuple[int, int], z: tuple[int, int]) -> np.ndarray:
    """Grid box [x0, x1) x [y0, y1) (grid coordinates from 0) of sections [z0, z1), as
    (z, rows, cols, channels)."""
    x0, y0 = (int(v) for v in volume.domain.inclusive_min[:2])
    k0, k1 = _z(volume, job, z[0]), _z(volume, job, z[1])
    box = volume[x0 + x[0]:x0 + x[1], y0 + y[0]:y0 + y[1], k0:k1, :].read().result()
    return np.ascontiguousarray(box.transpose(2, 1, 0, 3))


def write_box(volume, job: Job, x0: int, y0: int, z0: int, array: np.ndarray) -> None:
    """The inverse of read_box: array (z, rows, cols, channels) at grid (x0, y0), section z0."""
    gx, gy = (int(v) for v in volume.domain.inclusive_min[:2])
    k0 = _z(volume, job, z0)
    z, rows, cols = array.shape[:3]
    volume[gx + x0:gx + x0 + cols, gy + y0:gy + y0 + rows, k0:k0 + z, :].write(array.transpose(2, 1, 0, 3)).result()


def read_field(store: Storage, job: Job, z: int) -> tuple[np.ndarray, int] | None:
    """Section z's field for render: ((rows_m, cols_m, 2) float32 in scale-0 frame pixels, mip),
    or None when the job does not run the seamless stage."""
    if job.stage("seamless") is None:
        return None
    meta = read_meta(store)
    if meta is None:
        raise TaskError(f"{store.url}{META_KEY} does not exist: the seamless stage has not run")
    return read_slice(open_volume(store, FIELD), job, z), int(meta["mip"])
