"""The cc stage's waves (layout.py says how a job is cut into them). Every task reads only its
share: a block, a run of blocks' statistics plus the faces of their neighbours, up to FANIN
partials, or one block's rows of the mapping."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emcore.job import Job
from emcore.stage import TaskContext, TaskError, Wave
from emcore.storage import Storage
from emcore.volume import open_scale, read_block
from functions.cc import cost, descriptor, relations, store as cc_store
from functions.cc.block import label_block, local_labels
from functions.cc.grid import seam_pairs
from functions.cc.layout import BlockRunTask, BlockTask, Layout, PartsTask
from functions.cc.merge import combine, finalize, merge_partial
from functions.cc.outputs import PROPERTIES_DIR, write_tables
from functions.cc.remap import remap_block
from functions.cc.seams import seam_edges

SEGMENTATION = "segmentation"


@dataclass(frozen=True)
class DownsampleTask:
    """A block of the segmentation at a downsample wave's base scale, [lo, hi)."""
    lo: list[int]
    hi: list[int]


def layout_of(job: Job, store: Storage) -> Layout:
    return Layout(job, descriptor.load(store))


def _read(url: str, scale: int, offset, lo, hi) -> np.ndarray:
    try:
        source = open_scale(url, scale, read_only=True)
        return read_block(source, [o + a for o, a in zip(offset, lo)], [o + b for o, b in zip(offset, hi)])
    except ValueError as e:  # TensorStore's error for unreadable or undecodable chunks
        raise TaskError(f"cannot read {url} scale {scale} box {lo}-{hi}: {e}") from None


def _descriptor_block(layout: Layout, task: BlockTask) -> np.ndarray:
    """The block's box of the descriptor (read by both the blocks and the remap wave)."""
    d = layout.descriptor
    return _read(d.url, d.scale, d.voxel_offset, task.lo, task.hi)


def _relations(layout: Layout, task: BlockTask, local: np.ndarray, ids: np.ndarray, mask: np.ndarray,
               inner) -> tuple[dict, int]:
    """The block's relation rows to the base segmentation (relations.py) and the bytes of the
    base read: the same grown box as `mask`'s, for the contacts across the block's faces."""
    d = layout.descriptor
    lo, hi, _ = relations.halo_box(task.lo, task.hi, d.size)
    base = _read(d.baseseg, 0, d.voxel_offset, lo, hi)
    ids_of_local = np.zeros(int(local.max(initial=0)) + 1, np.uint64)
    ids_of_local[(ids & cc_store.LOCAL).astype(np.int64)] = ids
    return relations.block_relations(local, ids_of_local, mask, base, inner), int(base.nbytes)


def _segmentation(ctx: TaskContext) -> list:
    url = ctx.store.url + SEGMENTATION + "/"
    return [(lambda index: open_scale(url, index), lambda a: a)]


class Blocks(Wave):
    """Label each block; store its faces and statistics. Its plan checks the descriptor and
    stores the snapshot every later wave reads."""
    Task = BlockTask

    def plan(self, job: Job, store: Storage) -> list[BlockTask]:
        found = descriptor.inspect(job)
        problem = Layout(job, found).problem()
        if problem:
            raise TaskError(problem)
        store.write(descriptor.SNAPSHOT, found.to_json())
        return layout_of(job, store).block_tasks()

    def run(self, ctx: TaskContext, task: BlockTask) -> dict[str, Any]:
        layout = layout_of(ctx.job, ctx.store)
        options = layout.options
        d = layout.descriptor
        if d.baseseg is None:
            data = grown = _descriptor_block(layout, task)
        else:
            # The contacts across the block's faces need the descriptor one voxel beyond them.
            # The block inside is copied to the memory order of a plain read, so that its labels
            # are the remap wave's (block.local_labels).
            lo, hi, inner = relations.halo_box(task.lo, task.hi, d.size)
            grown = _read(d.url, d.scale, d.voxel_offset, lo, hi)
            data = np.asfortranarray(grown[inner])
        local, summary = label_block(data, task.lo, task.block, ccthresh=options["ccthresh"],
                                     connectivity=options["connectivity"], dustthresh=options["dustthresh"])
        read = int(grown.nbytes)
        if d.baseseg is not None:
            mask = grown > options["ccthresh"]
            del grown, data
            summary["stats"]["relations"], base_read = _relations(layout, task, local, summary["stats"]["ids"],
                                                                  mask, inner)
            read += base_read
        cc_store.put_summary(ctx.store, task.block, summary)
        return {"bytes_in": read, "segments": len(summary["stats"]["ids"])}

    def cost(self, job: Job, task: BlockTask, store: Storage) -> dict[str, int]:
        return cost.block_cost(job, task, store)


class Merge(Wave):
    Task = BlockRunTask

    def plan(self, job: Job, store: Storage) -> list[BlockRunTask]:
        return layout_of(job, store).merge_tasks()

    def run(self, ctx: TaskContext, task: BlockRunTask) -> dict[str, Any]:
        """Seams of a run of blocks with their later neighbours. Faces are loaded when a pair
        first needs them and dropped once their block has been the lower side of its pairs, so at
        most about one z-slab of blocks' faces is held, however long the run."""
        layout = layout_of(ctx.job, ctx.store)
        first, end = task.blocks
        faces: dict[int, dict] = {}
        found = []
        for a in range(first, end):
            for _, b, direction in seam_pairs([a], layout.grid):
                for c in (a, b):
                    if c not in faces:
                        faces[c] = cc_store.get_faces(ctx.store, c)
                found.append(seam_edges(faces[a], faces[b], direction, layout.options["connectivity"]))
            faces.pop(a, None)
        edges = np.concatenate(found) if found else np.zeros((0, 2), np.uint64)
        stats = [cc_store.get_stats(ctx.store, c) for c in range(first, end)]
        cc_store.put_partial(ctx.store, 0, ctx.task, merge_partial(stats, edges))
        return {"blocks": end - first, "edges": int(len(edges))}

    def cost(self, job: Job, task: BlockRunTask, store: Storage) -> dict[str, int]:
        first, end = task.blocks
        return {"bytes_in": 0, "reads": 2 * (end - first), "writes": 1}


def _partials(ctx: TaskContext, level: int, task: PartsTask) -> list[dict]:
    return [cc_store.get_partial(ctx.store, level, t) for t in range(*task.parts)]


class Combine(Wave):
    """Join up to FANIN partial merges of level `level - 1` into one of `level`."""
    Task = PartsTask

    def __init__(self, level: int):
        self.level = level

    def plan(self, job: Job, store: Storage) -> list[PartsTask]:
        return layout_of(job, store).combine_tasks(self.level)

    def run(self, ctx: TaskContext, task: PartsTask) -> dict[str, Any]:
        cc_store.put_partial(ctx.store, self.level, ctx.task, combine(_partials(ctx, self.level - 1, task)))
        return {"partials": task.parts[1] - task.parts[0]}

    def cost(self, job: Job, task: PartsTask, store: Storage) -> dict[str, int]:
        return {"bytes_in": 0, "reads": task.parts[1] - task.parts[0], "writes": 1}


class Finalize(Wave):
    """Global ids (the mapping), segments.csv, the segment properties."""
    Task = PartsTask

    def plan(self, job: Job, store: Storage) -> list[PartsTask]:
        return layout_of(job, store).finalize_tasks()

    def run(self, ctx: TaskContext, task: PartsTask) -> dict[str, Any]:
        layout = layout_of(ctx.job, ctx.store)
        options = layout.options
        partials = _partials(ctx, len(layout.levels) - 1, task)
        mapping, table = finalize(partials, options["szthresh"], options["dustthresh"])
        d = layout.descriptor
        pairs = None
        if d.baseseg is not None:
            pairs = relations.partners(table["relations"], len(table["ids"]))
            if options["mergethresh"] is not None:
                mapping, table = relations.merge_duplicates(mapping, table, pairs, d.resolution, d.voxel_offset,
                                                            options["mergethresh"])
                pairs = relations.partners(table["relations"], len(table["ids"]))
        cc_store.put_mapping(ctx.store, mapping, layout.blocks)
        count = write_tables(ctx.store, table, d, pairs)
        cc_store.put_segments(ctx.store, count)
        return {"segments": count, "pieces": int(len(mapping["ids"]))}

    def cost(self, job: Job, task: PartsTask, store: Storage) -> dict[str, int]:
        return {"bytes_in": 0, "reads": task.parts[1] - task.parts[0], "writes": 4}

    def stand_in(self, job: Job, store: Storage) -> None:
        """A segment count in place of finalize's, so remap can plan."""
        cc_store.put_segments(store, 0)


class Remap(Wave):
    """Label each block again (the same labels as the blocks wave's, block.py) and write its
    global ids at every scale it owns. Its plan writes the segmentation's `info`."""
    Task = BlockTask

    def plan(self, job: Job, store: Storage) -> list[BlockTask]:
        layout = layout_of(job, store)
        data_type = cc_store.get_segments(store)["data_type"]
        layout.multiscale.volume(store.url + SEGMENTATION, "segmentation", data_type, "compressed_segmentation",
                                 segment_properties=PROPERTIES_DIR).write()
        return layout.block_tasks()

    def run(self, ctx: TaskContext, task: BlockTask) -> dict[str, Any]:
        layout = layout_of(ctx.job, ctx.store)
        options = layout.options
        data = _descriptor_block(layout, task)
        labels, _, _ = local_labels(data, options["ccthresh"], options["connectivity"])
        mapping = cc_store.get_block_mapping(ctx.store, task.block, layout.blocks)
        data_type = cc_store.get_segments(ctx.store)["data_type"]
        out = remap_block(labels, mapping, dtype=np.dtype(data_type))
        written = layout.multiscale.write(0, task.lo, out, "mode", _segmentation(ctx))
        return {"bytes_in": int(data.nbytes), "scales": written}

    def cost(self, job: Job, task: BlockTask, store: Storage) -> dict[str, int]:
        return cost.remap_cost(job, task, store)


class Downsample(Wave):
    """The segmentation's multiscale wave `index` (as the image pyramid's)."""
    Task = DownsampleTask

    def __init__(self, index: int):
        self.index = index

    def plan(self, job: Job, store: Storage) -> list[DownsampleTask]:
        return [DownsampleTask(**box) for box in layout_of(job, store).multiscale.wave_blocks(self.index)]

    def run(self, ctx: TaskContext, task: DownsampleTask) -> dict[str, Any]:
        layout = layout_of(ctx.job, ctx.store)
        base, lo, hi = layout.multiscale.input_box(self.index, task.lo, task.hi)
        data = read_block(open_scale(ctx.store.url + SEGMENTATION + "/", base, read_only=True), lo, hi)
        written = layout.multiscale.write(self.index, task.lo, data, "mode", _segmentation(ctx))
        return {"bytes_in": int(data.nbytes), "scales": written}

    def cost(self, job: Job, task: DownsampleTask, store: Storage) -> dict[str, int]:
        return cost.downsample_cost(job, task, store)


class Tidy(Wave):
    """Delete the intermediates of a run of blocks; the first task also the merge tree's and the
    mapping. The descriptor snapshot and the segment count stay: they are small and `waves()`
    reads one."""
    Task = BlockRunTask

    def plan(self, job: Job, store: Storage) -> list[BlockRunTask]:
        return layout_of(job, store).tidy_tasks()

    def run(self, ctx: TaskContext, task: BlockRunTask) -> dict[str, Any]:
        first, end = task.blocks
        deleted = cc_store.delete_blocks(ctx.store, range(first, end))
        if first == 0:
            deleted += cc_store.delete_shared(ctx.store, layout_of(ctx.job, ctx.store).levels)
        return {"deleted": deleted}

    def cost(self, job: Job, task: BlockRunTask, store: Storage) -> dict[str, int]:
        return {"bytes_in": 0, "reads": 0, "writes": 0}                 # deletes are free
