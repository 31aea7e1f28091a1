"""The pyramid stage: plan the waves of blocks, and build one block at every scale it owns."""
from __future__ import annotations

from typing import Any

from emcore import tiles
from emcore.job import Job
from emcore.stage import TaskContext, TaskError
from emcore.storage import Storage
from emcore.volume import offset_problem, open_scale, read_block, scale_info, volume_info, write_block, write_info
from functions.pyramid.build import downsample_chain, to_uint8
from functions.pyramid.layout import blocks, scale_sharding, scales_for, wave_layouts

IMAGE, RAW = "image", "image_raw"


class Geometry:
    """The pyramid of a job, derived from the rendered stack's size and the options."""

    def __init__(self, job: Job, store: Storage):
        info = tiles.read_tiles_info(store)
        if info is None:
            raise TaskError("the rendered stack (tiles/info) does not exist yet")
        self.options = job.stage("pyramid")
        self.dtype = info["data_type"]
        self.size = info["scales"][0]["size"]
        self.offset = job.voxel_offset
        self.scales = scales_for(self.size, self.options, job.resolution, self.offset)
        self.layouts = wave_layouts(self.scales, self.options["chunk"], self.options["block"])

    def infos(self) -> dict[str, dict]:
        o = self.options
        sharding = scale_sharding(self.scales, self.layouts, o["chunk"], o["block"])
        jpeg = o["encoding"] == "jpeg"
        layers = {IMAGE: ("jpeg" if jpeg else "raw", "uint8" if jpeg else self.dtype)}
        if o["raw"] and jpeg:
            layers[RAW] = ("raw", self.dtype)
        return {
            name: volume_info("image", dtype, [
                scale_info(s, o["chunk"], encoding, sharding[s.index], o["jpeg_quality"]) for s in self.scales])
            for name, (encoding, dtype) in layers.items()
        }


class PyramidStage:
    name = "pyramid"

    def waves(self, job: Job, store: Storage) -> list[str]:
        if job.stage("pyramid") is None:
            return []
        if tiles.read_tiles_info(store) is None:
            return ["0"]  # provisional: the depth is known once the render wave has planned
        return [str(w.index) for w in Geometry(job, store).layouts]

    def plan(self, job: Job, wave: str, store: Storage) -> list[dict[str, Any]]:
        geo = Geometry(job, store)
        layout = geo.layouts[int(wave)]
        if layout.base is None:
            problem = offset_problem(geo.scales)
            if problem:
                raise TaskError(problem)
            for name, info in geo.infos().items():
                write_info(store, name, info)
        base_size = geo.size if layout.base is None else geo.scales[layout.base].size
        return [{"lo": lo, "hi": hi} for lo, hi in blocks(base_size, geo.options["block"])]

    def run(self, ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        geo = Geometry(ctx.job, ctx.store)
        layout = geo.layouts[int(ctx.wave)]
        lo, hi = params["lo"], params["hi"]
        has_raw = RAW in geo.infos()
        if layout.base is None:
            source = tiles.open_tiles(ctx.store, read_only=True)
            base_scale = geo.scales[0]
            base_factor = (1, 1, 1)
        else:
            base_scale = geo.scales[layout.base]
            base_factor = base_scale.factor
            # Read the lossless copy when there is one, so JPEG error does not compound upwards.
            source = open_scale(ctx.store.url + (RAW if has_raw else IMAGE) + "/", layout.base, read_only=True)
        origin = base_scale.voxel_offset
        data = read_block(source, [o + a for o, a in zip(origin, lo)], [o + b for o, b in zip(origin, hi)])
        targets = list(layout.scales)
        steps = [geo.scales[i].step for i in targets if i != 0]
        levels = ([data] if targets[0] == 0 else []) + downsample_chain(data, steps)
        for index, array in zip(targets, levels):
            scale = geo.scales[index]
            relative = [f // b for f, b in zip(scale.factor, base_factor)]
            at = [o + a // r for o, a, r in zip(scale.voxel_offset, lo, relative)]
            image = open_scale(ctx.store.url + IMAGE + "/", index)
            if geo.options["encoding"] == "jpeg":
                write_block(image, at, to_uint8(array, geo.options["window"]))
            else:
                write_block(image, at, array)
            if has_raw:
                write_block(open_scale(ctx.store.url + RAW + "/", index), at, array)
        return {"bytes_in": int(data.nbytes), "scales": targets}


STAGE = PyramidStage()
