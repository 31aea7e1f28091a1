"""The pyramid stage: plan the waves of blocks, and build one block at every scale it owns."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emcore import levelstore, omezarr, tiles
from emcore.job import Job
from emcore.multiscale import Multiscale
from emcore.stage import Stage, TaskContext, TaskError, Wave
from emcore.storage import Storage
from emcore.precomputed import Precomputed
from emcore.volume import open_scale, read_block
from functions.pyramid.cost import block_cost
from functions.pyramid.window import from_levels, to_uint8

IMAGE, RAW, OME_ZARR = "image", "image_raw", omezarr.NAME
TIDY = "tidy"
TIDY_SECTIONS = 256      # sections per tidy task: a few thousand deletes, well within a task's time


class Pyramid:
    """The pyramid of a job, derived from the rendered stack's size and the options."""

    def __init__(self, job: Job, store: Storage):
        info = tiles.read_tiles_info(store)
        if info is None:
            raise TaskError("the rendered stack (tiles/info) does not exist yet")
        self.options = job.stage("pyramid")
        self.store = store
        self.dtype = info.data_type
        self.multiscale = Multiscale(info.scale(0).size, job.resolution, job.voxel_offset,
                                     self.options["chunk"], self.options["block"])
        self.jpeg = self.options["encoding"] == "jpeg"
        self.with_raw = self.options["raw"] and self.jpeg
        self.with_ome_zarr = self.options["ome_zarr"]

    def volumes(self, root: str) -> list[Precomputed]:
        o, ms = self.options, self.multiscale
        out = [ms.volume(root + IMAGE, "image", "uint8", "jpeg", o["jpeg_quality"]) if self.jpeg
               else ms.volume(root + IMAGE, "image", self.dtype, "raw")]
        if self.with_raw:
            out.append(ms.volume(root + RAW, "image", self.dtype, "raw"))
        return out

    def window(self) -> list[int] | None:
        """The JPEG layer's window: the option, else the one the first plan derived from the levels."""
        if not levelstore.derives_window(self.options, self.dtype):
            return self.options["window"]
        window = levelstore.read_window(self.store)
        if window is None:
            raise TaskError(f"{self.store.url}{levelstore.WINDOW_KEY} does not exist: the pyramid's first plan writes it")
        return window

    def write_metadata(self, root: str) -> None:
        """Every layer's metadata, before any task writes data."""
        for volume in self.volumes(root):
            volume.write()
        if self.with_ome_zarr:
            omezarr.write_metadata(root + OME_ZARR + "/", self.multiscale, self.dtype, IMAGE)

    def layers(self, root: str) -> list[tuple[Any, Any]]:
        """(open a scale, convert) for each layer a block task writes (`Multiscale.write`)."""
        window = self.window()
        precomputed = lambda name: lambda index: open_scale(root + name + "/", index)  # noqa: E731
        out = [(precomputed(IMAGE), (lambda a: to_uint8(a, window)) if self.jpeg else (lambda a: a))]
        if self.with_raw:
            out.append((precomputed(RAW), lambda a: a))
        if self.with_ome_zarr:
            # The source's sample type, lossless, whatever `encoding` is: it equals image_raw/ (or
            # image/ when that is raw), and OME-Zarr readers are analysis tools, not only viewers.
            scales = self.multiscale.scales
            out.append((lambda index: omezarr.open_scale(root + OME_ZARR + "/", scales[index]), lambda a: a))
        return out

    def open_lossless(self, root: str, index: int):
        """Scale `index` of a layer holding the source's values, read by later waves so that JPEG
        error does not compound upwards: image_raw/, else the OME-Zarr copy, else image/ (lossless
        itself unless it is JPEG and neither copy is written)."""
        if self.with_raw:
            return open_scale(root + RAW + "/", index, read_only=True)
        if self.jpeg and self.with_ome_zarr:
            return omezarr.open_scale(root + OME_ZARR + "/", self.multiscale.scales[index], read_only=True)
        return open_scale(root + IMAGE + "/", index, read_only=True)


@dataclass(frozen=True)
class BlockTask:
    lo: list[int]       # the block's box at the wave's base scale, [lo, hi)
    hi: list[int]


@dataclass(frozen=True)
class TidyTask:
    z0: int             # the sections [z0, z1) whose tiles it deletes
    z1: int


class Build(Wave):
    """Wave `level`: each task writes a block at every scale it owns, from the tiles (level 0)
    or from the last scale the wave before wrote."""
    Task = BlockTask

    def __init__(self, level: int):
        self.level = level

    def plan(self, job: Job, store: Storage) -> list[BlockTask]:
        pyramid = Pyramid(job, store)
        if self.level == 0:
            problem = pyramid.multiscale.problem()
            if problem:
                raise TaskError(problem)
            pyramid.write_metadata(store.url)
            if levelstore.derives_window(pyramid.options, pyramid.dtype):
                records = levelstore.read_sample(store, job.z_range)
                levelstore.write_window(store, from_levels(records), [r["z"] for r in records])
        return [BlockTask(**box) for box in pyramid.multiscale.wave_blocks(self.level)]

    def run(self, ctx: TaskContext, task: BlockTask) -> dict[str, Any]:
        pyramid = Pyramid(ctx.job, ctx.store)
        ms = pyramid.multiscale
        base = ms.layouts[self.level].base
        if base is None:
            info = tiles.read_tiles_info(ctx.store)
            source = lambda lo, hi: tiles.read_block(ctx.store, info, lo, hi)  # noqa: E731
        else:
            scale = pyramid.open_lossless(ctx.store.url, base)
            source = lambda lo, hi: read_block(scale, lo, hi)  # noqa: E731
        bytes_in = 0

        def read(lo, hi):
            nonlocal bytes_in
            data = source(*ms.input_box(self.level, lo, hi)[1:])
            bytes_in += int(data.nbytes)
            return data
        written = ms.write_from(self.level, task.lo, task.hi, read, "mean", pyramid.layers(ctx.store.url))
        return {"bytes_in": bytes_in, "scales": written}

    def cost(self, job: Job, task: BlockTask, store: Storage) -> dict[str, int]:
        return block_cost(job, Pyramid(job, store), self.level, task.lo, task.hi)


class Tidy(Wave):
    """The last wave: delete the rendered tiles the pyramid no longer needs."""
    Task = TidyTask

    def plan(self, job: Job, store: Storage) -> list[TidyTask]:
        z0, depth = job.voxel_offset[2], len(job.z_range)
        return [TidyTask(z0 + a, z0 + min(a + TIDY_SECTIONS, depth)) for a in range(0, depth, TIDY_SECTIONS)]

    def run(self, ctx: TaskContext, task: TidyTask) -> dict[str, Any]:
        info = tiles.read_tiles_info(ctx.store)
        return {"deleted": sum(tiles.delete_section(ctx.store, info, z) for z in range(task.z0, task.z1))}

    def cost(self, job: Job, task: TidyTask, store: Storage) -> dict[str, int]:
        return {"bytes_in": 0, "reads": 1, "writes": 0}   # deletes are free operations on GCS and S3


class PyramidStage(Stage):
    name = "pyramid"

    def waves(self, job: Job, store: Storage) -> list[str]:
        if job.stage("pyramid") is None:
            return []
        if tiles.read_tiles_info(store) is None:
            return ["0"]  # provisional: the depth is known once the render wave has planned
        waves = [str(w.index) for w in Pyramid(job, store).multiscale.layouts]
        return waves if job.stage("pyramid")["keep_tiles"] else [*waves, TIDY]

    def wave(self, name: str) -> Wave:
        if name == TIDY:
            return Tidy()
        if name.isdigit():
            return Build(int(name))
        raise ValueError(f"pyramid has no wave {name!r}")


STAGE = PyramidStage()
