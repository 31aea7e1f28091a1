"""The segmentation being meshed: any precomputed segmentation layer, checked before any task runs.

Errors a user can act on (an image layer given as segmentation, a scale that does not exist, a
layer that is not there) are TaskErrors naming the option and the object.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from emcore.job import Job
from emcore.precomputed import InfoError, Precomputed, ScaleMeta
from emcore.stage import TaskError
from emcore.storage import normalize_url
from emcore.volume import read_block
from functions.mesh import geometry
from functions.mesh.options import OWN_SEGMENTATION

LABEL_TYPES = ("uint8", "uint16", "uint32", "uint64")
MESH_DIR = "mesh"   # the meshes' directory inside the job's own segmentation, as its info names it


@dataclass(frozen=True)
class Segmentation:
    volume: Precomputed
    own: bool                 # the job's own segmentation: meshes go inside it
    mip: int

    @property
    def url(self) -> str:
        return self.volume.url

    @property
    def scale(self) -> ScaleMeta:
        return self.volume.scale(self.mip)

    @property
    def size(self) -> list[int]:
        return list(self.scale.size)

    @property
    def resolution(self) -> list[float]:
        return [float(r) for r in self.scale.resolution]

    @property
    def voxel_offset(self) -> list[int]:
        return list(self.scale.voxel_offset)

    def read_chunk(self, position, chunk) -> tuple[np.ndarray, list[int]]:
        """Labels of the box chunk `position` meshes (zeros outside the volume), and its lower
        corner in voxels relative to the volume's start."""
        lo, hi = geometry.read_box(position, self.size, chunk)
        rlo, rhi, pad = geometry.padded_read(lo, hi, self.size)
        store = self.volume.open(self.mip)
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
        volume = Precomputed.read(url)
    except InfoError as e:
        raise TaskError(f"{field}: {e}") from None
    if volume.layer_type != "segmentation":
        kind = volume.layer_type
        raise TaskError(f"{field}: {url} is a precomputed {kind!r} layer, not a segmentation (its info has \"type\": {json.dumps(kind)})")
    if volume.data_type not in LABEL_TYPES or volume.num_channels != 1:
        raise TaskError(f"{field}: {url} holds {volume.data_type!r} x {volume.num_channels} channels; "
                        f"a segmentation needs one channel of {', '.join(LABEL_TYPES)}")
    try:
        volume.scale(options["mip"])
    except InfoError as e:
        raise TaskError(f"stages.mesh.mip: {e}") from None
    return Segmentation(volume, own, options["mip"])


def output_url(job: Job, segmentation: Segmentation) -> str:
    """Where the meshes go: inside the job's own segmentation, else `<dest>/mesh/`."""
    if segmentation.own:
        return segmentation.url + MESH_DIR + "/"
    return job.dest.rstrip("/") + "/mesh/"
