"""The align stage's waves: `pairs` (one task per run of RUN consecutive sections, matching each
section z to z+1 .. z+reach and to its anchors, each section prepared about once: pairwave.py),
`solve` (one task: every pair's correspondences -> one transform per section,
align/transforms.json and the report; fails the job if the alignment could not place its sections:
gate.py), or in their place `adopt` (another job's transforms, for a mask or second channel of
the same sections), and `render` (one task per section: warp it once into the frame, write it as a tile
slice).

Without `stages.align` only `render` runs, with identity transforms: the pyramid always reads
rendered tiles, so there is one path whether or not alignment ran."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from emcore import levels, levelstore, tiles
from emcore.alignment import TRANSFORMS_KEY, read_transforms, write_transforms
from emcore.images import (Expected, STACK_INDEX, index_stack, job_header, job_section, section_ifd,
                           stack_index)
from emcore.job import Job
from emcore.registry import spec
from emcore.stage import Stage, TaskContext, TaskError, Wave
from emcore.storage import Storage, open_storage
from functions.align import cost, gate, records
from functions.align.options import OPTIONS, matching_factor, partners
from functions.align.pairwave import Preparer, match_run
from functions.align.render import IDENTITY, _clahe, warp_section
from functions.align.report import report
from functions.align.transforms import build

DEFAULT_TILE = [1024, 1024]
RUN = 16      # sections per pair task: each prepared once per run, reach/RUN extra at its end


def _options(job: Job) -> dict:
    return job.stage("align") or OPTIONS.validate({})


def _tile(job: Job) -> list[int]:
    pyramid = job.stage("pyramid")
    return list(pyramid["block"][:2]) if pyramid else DEFAULT_TILE


@dataclass(frozen=True)
class PagesTask:
    pass


@dataclass(frozen=True)
class PairsTask:
    z: int          # the first section of the run
    count: int      # sections in the run


@dataclass(frozen=True)
class SolveTask:
    pass


@dataclass(frozen=True)
class RenderTask:
    z: int
    matrix: list | None = None      # section -> frame; None: identity (no alignment)
    ifd: int | None = None          # where the section's IFD is in a multi-page TIFF stack


class Pages(Wave):
    """A multi-page TIFF stack only: one task walks its IFD chain, checks that it has a page for
    every section the job names (naming `maxz` otherwise, before any section is read), and writes
    where each page's IFD lies (images.index_stack)."""
    Task = PagesTask

    def plan(self, job: Job, store: Storage) -> list[PagesTask]:
        return [PagesTask()]

    def run(self, ctx: TaskContext, task: PagesTask) -> dict[str, Any]:
        return {"pages": index_stack(ctx.job, ctx.source(), ctx.store)}

    def cost(self, job: Job, task: PagesTask, store: Storage) -> dict[str, int]:
        return {"bytes_in": 0, "reads": job.section_page(job.z_range.stop - 1) + 1, "writes": 1}

    def stand_in(self, job: Job, store: Storage) -> None:
        """Offsets of no use but their count, so that render can plan (its cost needs none)."""
        store.write(STACK_INDEX, bytes(8 * (job.section_page(job.z_range.stop - 1) + 1)))


class Pairs(Wave):
    Task = PairsTask

    def plan(self, job: Job, store: Storage) -> list[PairsTask]:
        zs = job.z_range
        return [PairsTask(z, min(RUN, zs.stop - z)) for z in range(zs.start, zs.stop, RUN)]

    def run(self, ctx: TaskContext, task: PairsTask) -> dict[str, Any]:
        job, options, source = ctx.job, _options(ctx.job), ctx.source()
        last = job.z_range.stop - 1

        def partners_of(z: int) -> list[int]:
            return partners(z, last, options["reach"], options["anchors"])
        ifds = stack_index(job, ctx.store)
        preparer = Preparer(lambda z: job_section(job, source, z, ifd=section_ifd(job, ifds, z)),
                            matching_factor(options, job.resolution))
        summary = {"z": [task.z, task.z + task.count - 1], "pairs": {}}
        for z, info, results in match_run(range(task.z, task.z + task.count), partners_of, preparer,
                                          options["model"], options["max_rotation"], options["reach"]):
            records.write_pairs(ctx.store, z, info, [{**r.summary(), "src": r.src, "dst": r.dst} for r in results])
            for r in results:
                summary["pairs"][r.status] = summary["pairs"].get(r.status, 0) + 1
        summary["sections_read"] = preparer.reads
        return summary

    def cost(self, job: Job, task: PairsTask, store: Storage) -> dict[str, int]:
        return cost.pairs_cost(job, task.count)


class Solve(Wave):
    Task = SolveTask

    def plan(self, job: Job, store: Storage) -> list[SolveTask]:
        return [SolveTask()]

    def run(self, ctx: TaskContext, task: SolveTask) -> dict[str, Any]:
        sections, pairs = {}, []
        for z in ctx.job.z_range:
            info, found = records.read_pairs(ctx.store, z)
            sections[z] = info
            pairs.extend(found)
        options = _options(ctx.job)
        doc = build(sections, pairs, options["model"], reach=options["reach"])
        write_transforms(ctx.store, doc)
        records.write_report(ctx.store, doc)
        problem = gate.verdict(doc, options["max_unplaced"], options["max_splits"])
        if problem:
            raise TaskError(f"alignment failed: {problem}. Per-pair quality: {ctx.store.url}{records.REPORT_CSV}")
        return {"frame": [doc["frame"]["width"], doc["frame"]["height"]], **{
            k: doc["summary"][k] for k in ("pairs_used", "pairs_poor", "blank", "bridged", "duplicates", "median_residual")}}

    def cost(self, job: Job, task: SolveTask, store: Storage) -> dict[str, int]:
        return cost.solve_cost(job)

    def stand_in(self, job: Job, store: Storage) -> None:
        """Identity transforms in place of the solve's, so render can plan."""
        header = _first_header(job, open_storage(job.source))
        shape = [header.height, header.width]
        write_transforms(store, build({z: {"shape": shape, "blank": False} for z in job.z_range}, []))


class Adopt(Solve):
    """With `transforms_from`: another job's transforms in place of matching this stack (a mask or
    second channel of the same sections), copied into this job's own `align/transforms.json` so
    that render, status and every reader after it find them where they always are. The other job
    passed its own gate; a document that does not cover this job's sections, or whose sections are
    another size than this stack's, fails here, before any section is rendered."""

    def run(self, ctx: TaskContext, task: SolveTask) -> dict[str, Any]:
        url = _options(ctx.job)["transforms_from"]
        where = f"stages.align.transforms_from: {url.rstrip('/')}/{TRANSFORMS_KEY}"
        doc = read_transforms(open_storage(url))
        if doc is None:
            raise TaskError(f"{where} does not exist: run the job that aligns these sections first")
        placed = {s["z"]: s for s in doc["sections"]}
        zs = ctx.job.z_range
        missing = [z for z in zs if z not in placed]
        if missing:
            raise TaskError(f"{where} places sections {min(placed)}..{max(placed)}; this job's sections "
                            f"{missing[0]}..{missing[-1]} ({len(missing)}) are not among them")
        header = _first_header(ctx.job, ctx.source())
        shapes = {tuple(placed[z]["shape"]) for z in zs}
        if shapes != {(header.height, header.width)}:
            raise TaskError(f"{where} was solved for sections of {' or '.join(f'{c}x{r}' for r, c in sorted(shapes))} "
                            f"px; this job's are {header.width}x{header.height}")
        doc = {**doc, "sections": [placed[z] for z in zs], "adopted_from": url,
               "pairs": [p for p in doc["pairs"] if p["z"] in zs and p["w"] in zs],
               "poor_pairs": [p for p in doc["poor_pairs"] if p["z"] in zs and p["w"] in zs]}
        write_transforms(ctx.store, doc)
        records.write_report(ctx.store, doc)
        return {"frame": [doc["frame"]["width"], doc["frame"]["height"]], "adopted_from": url, "sections": len(zs)}


class Render(Wave):
    Task = RenderTask

    def plan(self, job: Job, store: Storage) -> list[RenderTask]:
        source = open_storage(job.source)
        ifds = stack_index(job, store)
        header = _first_header(job, source)
        if job.stage("align") is None:
            width, height = header.width, header.height
            tasks = [RenderTask(z) for z in job.z_range]
        else:
            doc = read_transforms(store)
            if doc is None:
                raise TaskError(f"{store.url}{TRANSFORMS_KEY} does not exist: the align solve has not run")
            width, height = doc["frame"]["width"], doc["frame"]["height"]
            # Each task gets its own matrix: no render task reads the whole transforms.json.
            tasks = [RenderTask(s["z"], s["matrix"]) for s in doc["sections"]]
        if ifds is not None:
            # Each task goes straight to its page's IFD: one walk of the chain here, not one per task.
            tasks = [dataclasses.replace(t, ifd=section_ifd(job, ifds, t.z)) for t in tasks]
        tiles.write_tiles_info(store, [width, height, len(job.z_range)], header.dtype, job.resolution,
                               job.voxel_offset, tiles.tile_shape(width, height, _tile(job)))
        return tasks

    def run(self, ctx: TaskContext, task: RenderTask) -> dict[str, Any]:
        job, z = ctx.job, task.z
        info = tiles.read_tiles_info(ctx.store)
        width, height, _ = info.scale(0).size
        # Aligned sections may differ in size (the frame holds them all); unaligned ones are the frame.
        expect = Expected(info.data_type, None if job.stage("align") else (width, height))
        image = _levelled(job, ctx.store, z, job_section(job, ctx.source(), z, expect, task.ifd))
        clahe = _options(job)["clahe"]
        matrix = IDENTITY if task.matrix is None else task.matrix
        if job.stage("seamless") is None:
            frame = warp_section(image, matrix, (height, width), clahe=clahe)
        else:
            # The section's vector field, applied with its affine in the same single resampling.
            from emcore.fields import warp_with_field
            from emcore.fieldstore import read_field
            field, mip = read_field(ctx.store, job, z)
            frame = warp_with_field(_clahe(image) if clahe else image, matrix, field, (height, width), mip)
        tiles.write_section(ctx.store, info, job.voxel_offset[2] + z - job.z_range.start, frame)
        return {"bytes_in": int(image.nbytes), "z": z}

    def cost(self, job: Job, task: RenderTask, store: Storage) -> dict[str, int]:
        dtype = tiles.read_tiles_info(store).data_type
        return cost.render_cost(store, levelstore.measured(job.stage("pyramid"), dtype))


class AlignStage(Stage):
    name = "align"
    _waves = {"pages": Pages(), "pairs": Pairs(), "solve": Solve(), "adopt": Adopt(), "render": Render()}

    def waves(self, job: Job, store: Storage) -> list[str]:
        if job.stage("align") is not None:
            waves = ["adopt", "render"] if job.stage("align")["transforms_from"] else ["pairs", "solve", "render"]
        elif job.stage("pyramid") is not None and spec("pyramid").takes_sections(job.stage("pyramid")):
            waves = ["render"]     # the pyramid's input, unless it reads an existing volume
        else:
            return []
        return (["pages"] if job.section_page(job.z_range.stop - 1) is not None else []) + waves

    def wave(self, name: str) -> Wave:
        try:
            return self._waves[name]
        except KeyError:
            raise ValueError(f"align has no wave {name!r}") from None

    def report(self, job: Job, store: Storage) -> list[str]:
        return report(store)


def _levelled(job: Job, store: Storage, z: int, image):
    """The section stretched by its own levels when `stages.pyramid.normalize` asks, its levels
    recorded whenever something uses them (the stretch, or the JPEG window of 16-bit data)."""
    pyramid = job.stage("pyramid")
    if not levelstore.measured(pyramid, image.dtype.name):
        return image
    normalize = pyramid.get("normalize")
    qs = [normalize["low_percentile"], normalize["high_percentile"]] if normalize else list(levels.DEFAULT_PERCENTILES)
    sampled = levels.sample(image)
    low, high = levels.percentiles(levels.histogram(sampled), qs)
    levelstore.write_section(store, {"z": z, "dtype": image.dtype.name, "percentiles": qs, "levels": [low, high],
                                     "sampled": int(sampled.size), "stretched": normalize is not None and high > low})
    return levels.stretch(image, low, high) if normalize else image


def _first_header(job: Job, source: Storage):
    """The stack's geometry from the first readable section's header (one ranged read for a PNG,
    one or two for a TIFF page). A missing or corrupt first section is skipped: its render task
    reports it."""
    problems = []
    for z in list(job.z_range)[:16]:
        try:
            return job_header(job, source, z)
        except TaskError as e:
            problems.append(str(e))
    raise TaskError("cannot determine the stack's size: " + "; ".join(problems))


STAGE = AlignStage()
