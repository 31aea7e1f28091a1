"""The segmentation a stage reads (mesh, skeleton): any precomputed segmentation layer, named by
the stage's `segmentation` and `mip` options, checked before any task runs.

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

OWN_SEGMENTATION = "<dest>/segmentation/"    # the job's own, written by `cc`

LABEL_TYPES = ("uint8", "uint16", "uint32", "uint64")


@dataclass(frozen=True)
class Segmentation:
    volume: Precomputed
    own: bool                 # the job's own segmentation: meshes and skeletons go inside it
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

    def read(self, lo, hi) -> np.ndarray:
        """Labels of the voxel box [lo, hi) (relative to the volume's start; zeros where it
        extends past the volume)."""
        rlo = [max(0, a) for a in lo]
        rhi = [min(s, b) for b, s in zip(hi, self.size)]
        pad = [(r - a, b - r2) for a, b, r, r2 in zip(lo, hi, rlo, rhi)]
        store = self.volume.open(self.mip)
        offset = self.voxel_offset
        data = read_block(store, [a + o for a, o in zip(rlo, offset)], [b + o for b, o in zip(rhi, offset)])
        return np.pad(np.asarray(data), pad)


def resolve_url(job: Job, stage: str) -> tuple[str, bool]:
    url = job.stage(stage)["segmentation"]
    if url == OWN_SEGMENTATION:
        return job.dest.rstrip("/") + "/segmentation/", True
    url = normalize_url(url)
    own = url.rstrip("/") == (job.dest.rstrip("/") + "/segmentation")
    return url.rstrip("/") + "/", own


def open_segmentation(job: Job, stage: str) -> Segmentation:
    """The segmentation `stages.<stage>` names, its info checked."""
    options = job.stage(stage)
    url, own = resolve_url(job, stage)
    field = f"stages.{stage}.segmentation"
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
        raise TaskError(f"stages.{stage}.mip: {e}") from None
    return Segmentation(volume, own, options["mip"])


def output_url(job: Job, segmentation: Segmentation, name: str) -> str:
    """Where a product of the segmentation (`mesh`, `skeletons`) goes: inside the job's own
    segmentation, else `<dest>/<name>/`."""
    if segmentation.own:
        return segmentation.url + name + "/"
    return job.dest.rstrip("/") + "/" + name + "/"


def check_url(value: str) -> str | None:
    """The `segmentation` option's check."""
    if value == OWN_SEGMENTATION:
        return None
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in ("", "file", "mem", "gs", "s3"):
        return f"unsupported URL scheme {scheme!r}: use {OWN_SEGMENTATION!r}, a local path, file://, mem://, gs:// or s3://"
    return None


def check_ids(value) -> str | None:
    """The `object_ids` option's check."""
    if not isinstance(value, list) or not value:
        return f"must be a non-empty list of segment ids, got {value!r}"
    for i, v in enumerate(value):
        if not isinstance(v, int) or isinstance(v, bool) or not 0 < v < 2 ** 64:
            return f"[{i}] must be a segment id (an integer from 1 to 2^64-1), got {v!r}"
    if len(set(value)) != len(value):
        return "lists an id twice"
    return None
