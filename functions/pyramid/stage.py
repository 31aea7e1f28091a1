"""The pyramid stage: plan the waves of blocks, and build one block at every scale it owns."""
from __future__ import annotations

import functools
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
from functions.pyramid.source import ExistingVolume
from functions.pyramid.window import from_levels, to_uint8

IMAGE, RAW, SEGMENTATION, OME_ZARR = "image", "image_raw", "segmentation", omezarr.NAME
TIDY = "tidy"
TIDY_SECTIONS = 256      # sections per tidy task: a few thousand deletes, well within a task's time


class Pyramid:
    """The pyramid of a job, derived from its input's size (the rendered stack, or the existing
    `volume`) and the options."""

    def __init__(self, job: Job, store: Storage):
        self.options = job.stage("pyramid")
        self.store = store
        if self.options.get("volume") is None:
            info = tiles.read_tiles_info(store)
            if info is None:
                raise TaskError("the rendered stack (tiles/info) does not exist yet")
            self.volume = None
            size, self.dtype, resolution, offset = info.scale(0).size, info.data_type, job.resolution, job.voxel_offset
        else:
            self.volume = ExistingVolume.describe(self.options["volume"], job.resolution, job.voxel_offset)
            v = self.volume
            size, self.dtype, resolution, offset = v.size, v.data_type, v.resolution, v.voxel_offset
        self.segmentation = self.volume is not None and self.volume.layer_type == "segmentation"
        self.method = "mode" if self.segmentation else "mean"
        self.multiscale = Multiscale(size, resolution, offset, self.options["chunk"], self.options["block"])
        self.jpeg = self.options["encoding"] == "jpeg" and not self.segmentation
        self.with_raw = self.options["raw"] and self.jpeg
        self.with_ome_zarr = self.options["ome_zarr"]

    def problem(self) -> str | None:
        """What makes this input unfit for the options, before anything is written."""
        if self.volume is not None and self.jpeg and self.dtype != "uint8":
            if self.dtype != "uint16":
                return (f"pyramid.encoding: jpeg stores 8 bits; the volume at {self.volume.url} holds {self.dtype}: "
                        "use encoding raw")
            if self.options["window"] is None:
                return (f"pyramid.window: the volume at {self.volume.url} holds uint16, and its JPEG layer needs a "
                        "window (no sections are rendered whose levels would give one), or use encoding raw")
        if self.volume is not None and (stored := self.volume.stored_problem()):
            return stored
        if self.segmentation and self.with_ome_zarr:
            return (f"pyramid.ome_zarr: the OME-Zarr copy is of an image; the volume at {self.volume.url} is a "
                    "segmentation: leave ome_zarr out")
        problem = self.multiscale.problem()
        return f"pyramid.volume: {self.volume.url}: {problem}" if problem and self.volume is not None else problem

    def volumes(self, root: str) -> list[Precomputed]:
        o, ms = self.options, self.multiscale
        if self.segmentation:
            encoding = "compressed_segmentation" if self.dtype in ("uint32", "uint64") else "raw"
            return [ms.volume(root + SEGMENTATION, "segmentation", self.dtype, encoding)]
        out = [ms.volume(root + IMAGE, "image", "uint8", "jpeg", o["jpeg_quality"]) if self.jpeg
               else ms.volume(root + IMAGE, "image", self.dtype, "raw")]
        if self.with_raw:
            out.append(ms.volume(root + RAW, "image", self.dtype, "raw"))
        return out

    def window(self) -> list[int] | None:
        """The JPEG layer's window: the option, else the one the first plan derived from the levels."""
        if self.volume is not None or not levelstore.derives_window(self.options, self.dtype):
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
        precomputed = lambda name: lambda index: open_scale(root + name + "/", index)  # noqa: E731
        if self.segmentation:
            return [(precomputed(SEGMENTATION), lambda a: a)]
        window = self.window()
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
        itself unless it is JPEG and neither copy is written); a segmentation's own layer."""
        if self.segmentation:
            return open_scale(root + SEGMENTATION + "/", index, read_only=True)
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
            problem = pyramid.problem()
            if problem:
                raise TaskError(problem)
            pyramid.write_metadata(store.url)
            if pyramid.volume is None and levelstore.derives_window(pyramid.options, pyramid.dtype):
                records = levelstore.read_sample(store, job.z_range)
                levelstore.write_window(store, from_levels(records), [r["z"] for r in records])
        return [BlockTask(**box) for box in pyramid.multiscale.wave_blocks(self.level)]

    def run(self, ctx: TaskContext, task: BlockTask) -> dict[str, Any]:
        pyramid = Pyramid(ctx.job, ctx.store)
        ms = pyramid.multiscale
        base = ms.layouts[self.level].base
        given = {}
        if pyramid.volume is not None:
            # The input volume's own coarser scales, where they are the pyramid's, are copied.
            for index, own in pyramid.volume.kept(ms.scales).items():
                if index in ms.layouts[self.level].scales:
                    given[index] = functools.partial(pyramid.volume.read, pyramid.volume.open(own))
        if base is None and pyramid.volume is not None:
            source = functools.partial(pyramid.volume.read, pyramid.volume.open())
        elif base is None:
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
        written = ms.write_from(self.level, task.lo, task.hi, read, pyramid.method, pyramid.layers(ctx.store.url),
                                 given)
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
        from_volume = job.stage("pyramid").get("volume") is not None
        if not from_volume and tiles.read_tiles_info(store) is None:
            return ["0"]  # provisional: the depth is known once the render wave has planned
        try:
            waves = [str(w.index) for w in Pyramid(job, store).multiscale.layouts]
        except TaskError:
            return ["0"]  # a volume that cannot be read: wave 0's plan fails naming it, and is recorded
        return waves if from_volume or job.stage("pyramid")["keep_tiles"] else [*waves, TIDY]

    def wave(self, name: str) -> Wave:
        if name == TIDY:
            return Tidy()
        if name.isdigit():
            return Build(int(name))
        raise ValueError(f"pyramid has no wave {name!r}")


STAGE = PyramidStage()
