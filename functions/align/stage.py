"""The align stage's waves. Without `stages.align` only `render` runs, with identity transforms:
the pyramid always reads rendered tiles, so there is one path whether or not alignment ran."""
from __future__ import annotations

from typing import Any

from emcore import tiles
from emcore.images import read_png_header, read_section
from emcore.job import Job
from emcore.stage import TaskContext, TaskError
from emcore.storage import Storage, open_storage
from emcore.volume import write_block
from functions.align.render import IDENTITY, as_xyz, warp_section
from functions.align.options import OPTIONS

DEFAULT_TILE = [1024, 1024]


def _options(job: Job) -> dict:
    return job.stage("align") or OPTIONS.validate({})


def _tile(job: Job) -> list[int]:
    pyramid = job.stage("pyramid")
    return list(pyramid["block"][:2]) if pyramid else DEFAULT_TILE


class AlignStage:
    name = "align"

    def waves(self, job: Job, store: Storage) -> list[str]:
        if job.stage("align") is None and job.stage("pyramid") is None:
            return []
        return ["render"]

    def plan(self, job: Job, wave: str, store: Storage) -> list[dict[str, Any]]:
        if wave == "render":
            return self._plan_render(job, store)
        raise ValueError(f"align has no wave {wave!r}")

    def _plan_render(self, job: Job, store: Storage) -> list[dict[str, Any]]:
        source = open_storage(job.source)
        header = _first_header(job, source)
        size = [header.width, header.height, len(job.z_range)]
        offset = job.voxel_offset
        tiles.write_tiles_info(store, size, header.dtype, job.resolution, offset,
                               tiles.tile_shape(header.width, header.height, _tile(job)))
        return [{"z": z} for z in job.z_range]

    def run(self, ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        if ctx.wave == "render":
            return self._render(ctx, params["z"])
        raise ValueError(f"align has no wave {ctx.wave!r}")

    def _render(self, ctx: TaskContext, z: int) -> dict[str, Any]:
        job = ctx.job
        key = job.section_name(z)
        source = ctx.source()
        image = read_section(source, key)
        volume = tiles.open_tiles(ctx.store)
        width, height, _ = (int(n) for n in volume.shape[:3])
        if image.dtype != volume.dtype.numpy_dtype:
            raise TaskError(f"section {source.url}{key} has {image.dtype} samples but the stack is {volume.dtype.numpy_dtype}")
        if job.stage("align") is None and image.shape != (height, width):
            raise TaskError(f"section {source.url}{key} is {image.shape[1]}x{image.shape[0]} pixels "
                            f"but the stack is {width}x{height}")
        frame = warp_section(image, IDENTITY, (height, width), clahe=_options(job)["clahe"])
        lo = [job.voxel_offset[0], job.voxel_offset[1], job.voxel_offset[2] + z - job.z_range.start]
        write_block(volume, lo, as_xyz(frame))
        return {"bytes_in": int(image.nbytes), "z": z}


def _first_header(job: Job, source: Storage):
    """The stack's geometry from the first readable section's PNG header (one ranged read). A
    missing or corrupt first section is skipped: its render task reports it."""
    problems = []
    for z in list(job.z_range)[:16]:
        try:
            return read_png_header(source, job.section_name(z))
        except TaskError as e:
            problems.append(str(e))
    raise TaskError("cannot determine the stack's size: " + "; ".join(problems))


STAGE = AlignStage()
