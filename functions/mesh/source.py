"""The segmentation being meshed: any precomputed segmentation layer, checked before any task runs.

Errors a user can act on (an image layer given as segmentation, a scale that does not exist, a
layer that is not there) are TaskErrors naming the option and the object.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from emcore.job import Job
from emcore.stage import TaskError
from emcore.storage import NotFound, StorageError, normalize_url, open_storage
from emcore.volume import open_scale, read_block
from functions.mesh import geometry
from functions.mesh.options import OWN_SEGMENTATION

LABEL_TYPES = ("uint8", "uint16", "uint32", "uint64")


@dataclass(frozen=True)
class Segmentation:
    url: str
    own: bool                 # the job's own segmentation: meshes go inside it
    info: dict
    mip: int

    @property
    def scale(self) -> dict:
        return self.info["scales"][self.mip]

    @property
    def size(self) -> list[int]:
        return [int(s) for s in self.scale["size"]]

    @property
    def resolution(self) -> list[float]:
        return [float(r) for r in self.scale["resolution"]]

    @property
    def voxel_offset(self) -> list[int]:
        return [int(o) for o in self.scale.get("voxel_offset", [0, 0, 0])]

    def read_chunk(self, position, chunk) -> tuple[np.ndarray, list[int]]:
        """Labels of the box chunk `position` meshes (zeros outside the volume), and its lower
        corner in voxels relative to the volume's start."""
        lo, hi = geometry.read_box(position, self.size, chunk)
        rlo, rhi, pad = geometry.padded_read(lo, hi, self.size)
        store = open_scale(self.url, self.mip, read_only=True)
        offset = self.voxel_offset
        data = read_block(store, [a + o for a, o in zip(rlo, offset)], [b + o for b, o in zip(rhi, offset)])
        return np.pad(np.asarray(data), pad), lo


def resolve_url(job: Job) -> tuple[str, bool]:
    url = job.stage("mesh")["segmentation"]
    if url == OWN_SEGMENTATION:
        return job.dest.rstrip("/") + "/segmentation/", True
    url = normalize_url(url)
    own = url.rstrip("/") == (job.dest.rstrip("/") + "/segmentation")
    return url.rstrip("/") + "/", own


def open_segmentation(job: Job) -> Segmentation:
    options = job.stage("mesh")
    url, own = resolve_url(job)
    field = "stages.mesh.segmentation"
    try:
        raw = open_storage(url).read("info")
    except NotFound:
        raise TaskError(f"{field}: no precomputed volume at {url} ({url}info does not exist)") from None
    except StorageError as e:
        raise TaskError(f"{field}: cannot read {url}info: {e}") from None
    try:
        info = json.loads(raw)
    except ValueError:
        raise TaskError(f"{field}: {url}info is not JSON") from None
    if not isinstance(info, dict) or info.get("type") != "segmentation":
        kind = info.get("type") if isinstance(info, dict) else None
        raise TaskError(f"{field}: {url} is a precomputed {kind!r} layer, not a segmentation (its info has \"type\": {json.dumps(kind)})")
    if info.get("data_type") not in LABEL_TYPES or int(info.get("num_channels", 1)) != 1:
        raise TaskError(f"{field}: {url} holds {info.get('data_type')!r} x {info.get('num_channels')} channels; "
                        f"a segmentation needs one channel of {', '.join(LABEL_TYPES)}")
    scales = info.get("scales") or []
    mip = options["mip"]
    if mip >= len(scales):
        raise TaskError(f"stages.mesh.mip: scale {mip} does not exist in {url}: it has {len(scales)} "
                        f"scale{'s' if len(scales) != 1 else ''} (0 to {len(scales) - 1})")
    return Segmentation(url, own, info, mip)


def output_url(job: Job, segmentation: Segmentation) -> str:
    """Where the meshes go: inside the job's own segmentation, else `<dest>/mesh/`."""
    if segmentation.own:
        return segmentation.url + "mesh/"
    return job.dest.rstrip("/") + "/mesh/"
