"""The descriptor volume the cc stage thresholds: where it is, and whether it can be used.

Only the data can tell whether the job's options fit it (a type we do not threshold, a threshold
no voxel can exceed, a scale that does not exist), so this is checked when the first wave is
planned, and every problem is a TaskError naming the option (`stages.cc.<field>`) and the object.
The geometry found there is stored at `cc/descriptor.json`: later waves read that snapshot, so
the whole job works from one view of the descriptor.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace

from emcore.job import Job
from emcore.stage import TaskError
from emcore.precomputed import InfoError, Precomputed, ScaleMeta
from emcore.storage import NotFound, Storage, normalize_url, open_storage
from functions.cc import relations
from functions.cc.options import DEST

SNAPSHOT = "cc/descriptor.json"
FIELD = "stages.cc."
# The value range of each type we threshold; a threshold must lie in [low, high) so that some
# value can exceed it and some cannot (float32 only needs to be a finite float32).
RANGES = {"uint8": (0, 255), "uint16": (0, 65535), "float32": (-3.4028234663852886e38, 3.4028234663852886e38)}
ENCODINGS = ("raw", "jpeg", "png")  # what TensorStore decodes for these types


@dataclass(frozen=True)
class Descriptor:
    url: str
    scale: int
    data_type: str
    size: list[int]
    resolution: list[float]
    voxel_offset: list[int]
    # The base segmentation (relations.py), checked against this geometry: its URL, and its scale
    # 0's type and chunk for the plan's cost estimates.
    baseseg: str | None = None
    baseseg_data_type: str | None = None
    baseseg_chunk: list[int] | None = None

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), indent=1, sort_keys=True) + "\n").encode()


def resolve_url(job: Job) -> str:
    url = job.stage("cc")["descriptor"]
    return normalize_url(job.dest + url[len(DEST):] if url.startswith(DEST) else url)


def stored(store: Storage) -> Descriptor | None:
    """The snapshot written when the first wave was planned, or None before that."""
    try:
        return Descriptor(**json.loads(store.read(SNAPSHOT)))
    except NotFound:
        return None


def load(store: Storage) -> Descriptor:
    found = stored(store)
    if found is None:
        raise TaskError(f"{store.url}{SNAPSHOT} does not exist: the cc stage's first wave was never planned")
    return found


def inspect(job: Job) -> Descriptor:
    """Read and check the descriptor's info against the job's options."""
    options = job.stage("cc")
    url = resolve_url(job)
    try:
        volume = Precomputed.read(url)
    except InfoError as e:
        raise TaskError(f"{FIELD}descriptor: {e}") from None
    if volume.data_type not in RANGES:
        raise TaskError(f"{FIELD}descriptor: {url} has data_type {volume.data_type!r}; the cc stage thresholds "
                        f"uint8, uint16 or float32 volumes")
    if volume.num_channels != 1:
        raise TaskError(f"{FIELD}descriptor: {url} has {volume.num_channels} channels; expected 1")
    try:
        scale = volume.scale(options["scale"])
    except InfoError as e:
        raise TaskError(f"{FIELD}scale: {e}") from None
    if scale.encoding not in ENCODINGS:
        raise TaskError(f"{FIELD}descriptor: scale {options['scale']} of {url} is encoded "
                        f"{scale.encoding!r}; readable encodings: {', '.join(ENCODINGS)}")
    _check_threshold(options["ccthresh"], volume.data_type, url)
    _check_not_gzipped(url, scale)
    found = Descriptor(url=url, scale=options["scale"], data_type=volume.data_type, size=list(scale.size),
                       resolution=list(scale.resolution), voxel_offset=list(scale.voxel_offset))
    base = relations.inspect(job, scale.size, scale.resolution, scale.voxel_offset)
    if base is None:
        return found
    _check_not_gzipped(base.url, base.scale(0), "baseseg")
    return replace(found, baseseg=base.url, baseseg_data_type=base.data_type, baseseg_chunk=list(base.scale(0).chunk))


def _check_threshold(threshold: float, dtype: str, url: str) -> None:
    low, high = RANGES[dtype]
    if not math.isfinite(threshold) or not low <= threshold < high:
        raise TaskError(f"{FIELD}ccthresh: {threshold!r} is outside the range [{low:g}, {high:g}) of "
                        f"{url}'s {dtype} values, so every voxel would be "
                        f"{'foreground' if threshold < low else 'background'}")


def _check_not_gzipped(url: str, scale: ScaleMeta, field: str = "descriptor") -> None:
    """CloudVolume writes `<chunk>.gz` on local disks by default; TensorStore would read those
    chunks as missing (zeros) and the segmentation would be silently empty."""
    if scale.sharding is not None:
        return
    lo = scale.voxel_offset
    hi = [min(o + c, o + s) for o, c, s in zip(lo, scale.chunk, scale.size)]
    first = f"{scale.key}/" + "_".join(f"{a}-{b}" for a, b in zip(lo, hi))
    store = open_storage(url)
    if not store.exists(first) and store.exists(first + ".gz"):
        raise TaskError(f"{FIELD}{field}: {url} stores gzipped chunk files ({first}.gz), which "
                        f"TensorStore cannot read; write it with CloudVolume(..., compress=False) "
                        f"or with TensorStore")
