"""The skeleton stage: a wave of block tasks (kimimaro on each block, with one voxel of overlap);
census and route, which bring each object's pieces to its shard in bounded steps
(emcore/shuffle.py); a wave of merge tasks, one per shard (each object's pieces joined into one
tree, the shard file); and a tidy wave. See docs/skeleton.md."""
from __future__ import annotations

import itertools
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import fastremap
import numpy as np

from emcore import shards, shuffle
from emcore.job import Job
from emcore.segmentation import Segmentation, open_segmentation, output_url
from emcore.stage import Stage, TaskContext, TaskError, Wave
from emcore.storage import Storage, open_storage
from functions.skeleton import encoding, pieces
from functions.skeleton.options import TEASAR_DEFAULTS

NAME = "skeleton"
TMP = "skeleton-tmp/"
_WORK = np.dtype([("block", "<u4"), ("id", "<u8"), ("offset", "<u8"), ("size", "<u8")])


@dataclass(frozen=True)
class BlockTask:
    block: list[int]        # the block's position in the grid of `stages.skeleton.block` boxes


@dataclass(frozen=True)
class RunTask:
    run: int                # the run's first block, in the grid's order (shuffle.Runs)


@dataclass(frozen=True)
class ShardTask:
    shard: int


@dataclass(frozen=True)
class TidyTask:
    pass


def _segmentation(job: Job) -> Segmentation:
    return open_segmentation(job, NAME)


def _positions(job: Job, seg: Segmentation) -> list[tuple[int, ...]]:
    grid = [-(-s // c) for s, c in zip(seg.size, job.stage(NAME)["block"])]
    return list(itertools.product(*(range(g) for g in grid)))


def _block_runs(job: Job, seg: Segmentation) -> shuffle.Runs:
    return shuffle.Runs(len(_positions(job, seg)))


def _box(position, block, size) -> tuple[list[int], list[int]]:
    """The voxels [lo, hi) block `position` skeletonizes: its box and one voxel past each upper
    face (the plane it shares with its neighbour), within the volume."""
    lo = [p * c for p, c in zip(position, block)]
    return lo, [min(a + c + 1, s) for a, c, s in zip(lo, block, size)]


def _key(position, ext: str) -> str:
    return f"{TMP}blocks/{'_'.join(str(p) for p in position)}.{ext}"


class Blocks(Wave):
    """kimimaro on one block and the voxel plane past each of its upper faces; vertices in nm."""
    Task = BlockTask

    def plan(self, job: Job, store: Storage) -> list[BlockTask]:
        return [BlockTask(list(p)) for p in _positions(job, _segmentation(job))]

    def run(self, ctx: TaskContext, task: BlockTask) -> dict[str, Any]:
        options = ctx.job.stage(NAME)
        seg = _segmentation(ctx.job)
        block = options["block"]
        lo, hi = _box(task.block, block, seg.size)
        labels = seg.read(lo, hi)
        if options["object_ids"]:
            labels = fastremap.mask_except(labels, [int(i) for i in options["object_ids"]], in_place=True)
        # kimimaro (with scipy under it) takes ~0.55 s to import, and every process that lists a
        # job's waves loads every stage module (the orchestrator, emctl plan): only tasks load it.
        import kimimaro
        skeletons = kimimaro.skeletonize(
            labels, teasar_params={**TEASAR_DEFAULTS, **options["teasar_params"]}, anisotropy=seg.resolution,
            dust_threshold=options["dust_threshold"], fix_branching=True, fix_borders=True, progress=False,
            parallel=1)
        # kimimaro's vertices are in nm from the block's first voxel: move them into the layer's frame.
        origin = (np.asarray(lo, np.float64) + seg.voxel_offset) * seg.resolution
        encoded = {int(oid): encoding.encode(s.vertices.astype(np.float64) + origin, s.edges, s.radius)
                   for oid, s in skeletons.items()}
        index, data = pieces.pack(encoded)
        ctx.store.write(_key(task.block, "dat"), data)
        ctx.store.write(_key(task.block, "idx"), index)   # last: an index means its data is complete
        return {"bytes_in": int(labels.nbytes), "objects": len(encoded),
                "vertices": int(sum(len(s.vertices) for s in skeletons.values()))}

    def cost(self, job: Job, task: BlockTask, store: Storage) -> dict[str, int]:
        seg = _segmentation(job)
        block, stored = job.stage(NAME)["block"], seg.scale.chunk
        lo, hi = _box(task.block, block, seg.size)
        # The stored chunks the box touches (stored chunks start at the voxel offset).
        reads = math.prod(-(-b // c) - a // c for a, b, c in zip(lo, hi, stored))
        return {"bytes_in": math.prod(b - a for a, b in zip(lo, hi)) * np.dtype(seg.volume.data_type).itemsize,
                "reads": reads, "writes": 2}

    def stand_in(self, job: Job, store: Storage) -> None:
        """Empty block indices, so merge can plan (its size depends on the data)."""
        for position in _positions(job, _segmentation(job)):
            store.write(_key(position, "idx"), b"")


class Census(Wave):
    """Per run of blocks: their indices as one table of records, and how many objects and bytes."""
    Task = RunTask

    def plan(self, job: Job, store: Storage) -> list[RunTask]:
        return [RunTask(run) for run in _block_runs(job, _segmentation(job))]

    def run(self, ctx: TaskContext, task: RunTask) -> dict[str, Any]:
        seg = _segmentation(ctx.job)
        positions = _positions(ctx.job, seg)
        tables = []
        for i in _block_runs(ctx.job, seg).blocks(task.run):
            index = pieces.unpack_index(ctx.store.read(_key(positions[i], "idx")))
            work = np.zeros(len(index), _WORK)
            work["block"], work["id"], work["offset"], work["size"] = i, index["id"], index["offset"], index["size"]
            tables.append(work)
        rows = np.concatenate(tables) if tables else np.zeros(0, _WORK)
        return shuffle.write_census(ctx.store, TMP, task.run, rows, rows["id"], ctx.job.stage(NAME)["object_ids"])

    def cost(self, job: Job, task: RunTask, store: Storage) -> dict[str, int]:
        return {"bytes_in": 0, "reads": len(_block_runs(job, _segmentation(job)).blocks(task.run)), "writes": 2}

    def stand_in(self, job: Job, store: Storage) -> None:
        shuffle.stand_in(store, TMP, _block_runs(job, _segmentation(job)), _WORK)


class Route(Wave):
    """Its plan reads the runs' summaries (at most shuffle.RUNS_MAX), chooses the sharding, writes
    the skeletons' `info` and references it from the segmentation's when it is the job's own;
    each task sorts a run's records by shard."""
    Task = RunTask

    def plan(self, job: Job, store: Storage) -> list[RunTask]:
        options = job.stage(NAME)
        seg = _segmentation(job)
        runs = _block_runs(job, seg)
        census = shuffle.read_census(store, TMP, runs)
        if options["object_ids"]:
            missing = sorted(set(options["object_ids"]) - census["found"])
            if missing:
                listed = ", ".join(str(m) for m in missing[:10]) + (" ..." if len(missing) > 10 else "")
                raise TaskError(f"stages.skeleton.object_ids: no skeleton for segment{'s' if len(missing) > 1 else ''} "
                                f"{listed} in {seg.url} at scale {seg.mip} (absent, or smaller than dust_threshold)")
        write_info(job, seg, shards.choose_sharding(census["ids"], census["bytes"], min_shards=runs.count // 4))
        return [RunTask(run) for run in runs]

    def run(self, ctx: TaskContext, task: RunTask) -> dict[str, Any]:
        return shuffle.route(ctx.store, TMP, task.run, _WORK, _spec(ctx.job, _segmentation(ctx.job)))

    def cost(self, job: Job, task: RunTask, store: Storage) -> dict[str, int]:
        return {"bytes_in": 0, "reads": 2, "writes": 2}

    def stand_in(self, job: Job, store: Storage) -> None:
        seg = _segmentation(job)
        for run in _block_runs(job, seg):
            shuffle.route(store, TMP, run, _WORK, _spec(job, seg))


class Merge(Wave):
    """Per shard: its objects' pieces gathered from every run, each object's joined into one
    tree, the shard file."""
    Task = ShardTask

    def plan(self, job: Job, store: Storage) -> list[ShardTask]:
        return [ShardTask(shard) for shard in range(2 ** _spec(job, _segmentation(job))["shard_bits"])]

    def run(self, ctx: TaskContext, task: ShardTask) -> dict[str, Any]:
        seg = _segmentation(ctx.job)
        positions = _positions(ctx.job, seg)
        work = shuffle.gather(ctx.store, TMP, _block_runs(ctx.job, seg), _WORK, task.shard)
        if len(work) == 0:
            return {"objects": 0, "vertices": 0}        # no object in this shard: no shard file
        parts: dict[int, list] = defaultdict(list)
        for block_index in np.unique(work["block"]):
            rows = np.sort(work[work["block"] == block_index], order="offset")
            start, end = int(rows["offset"][0]), int(rows["offset"][-1] + rows["size"][-1])
            blob = ctx.store.read_range(_key(positions[int(block_index)], "dat"), start, end)
            for row in rows:
                a = int(row["offset"]) - start
                parts[int(row["id"])].append(encoding.decode(blob[a:a + int(row["size"])]))
        from functions.skeleton.join import join    # kimimaro's: imported by tasks only, as above
        entries, vertices = [], 0
        for oid in sorted(parts):
            s = join(parts[oid], oid)
            if len(s.vertices) == 0:        # only isolated points in every block: nothing to draw
                continue
            entries.append((oid, b"", encoding.encode(s.vertices, s.edges, s.radius)))
            vertices += len(s.vertices)
        if not entries:
            return {"objects": 0, "vertices": 0}
        spec = _spec(ctx.job, seg)
        open_storage(output_url(ctx.job, seg, "skeletons")).write(shards.shard_key(task.shard, spec),
                                                                  shards.build_shard(entries, spec))
        return {"objects": len(entries), "vertices": vertices}

    def cost(self, job: Job, task: ShardTask, store: Storage) -> dict[str, int]:
        # Its work grows with the objects found, which no plan knows: its storage operations only.
        return {"bytes_in": 0, "reads": 2 * len(list(_block_runs(job, _segmentation(job)))), "writes": 1}


class Tidy(Wave):
    """Delete the blocks' pieces and the merge lists."""
    Task = TidyTask

    def plan(self, job: Job, store: Storage) -> list[TidyTask]:
        return [TidyTask()]

    def run(self, ctx: TaskContext, task: TidyTask) -> dict[str, Any]:
        return {"deleted": ctx.store.delete_all(list(ctx.store.list(TMP)))}

    def cost(self, job: Job, task: TidyTask, store: Storage) -> dict[str, int]:
        return {"bytes_in": 0, "reads": 1, "writes": 0}


def _spec(job: Job, seg: Segmentation) -> dict:
    return json.loads(open_storage(output_url(job, seg, "skeletons")).read("info"))["sharding"]


def write_info(job: Job, seg: Segmentation, sharding: dict) -> None:
    """The skeletons' `info`, and the segmentation's `skeletons` key when it is the job's own
    (the one place this stage writes metadata)."""
    out = open_storage(output_url(job, seg, "skeletons"))
    out.write("info", (json.dumps(encoding.info(sharding), indent=1, sort_keys=True) + "\n").encode())
    if seg.own and seg.volume.reference("skeletons") != "skeletons":
        seg.volume.with_reference("skeletons", "skeletons").write()


class SkeletonStage(Stage):
    name = NAME
    _waves = {"blocks": Blocks(), "census": Census(), "route": Route(), "merge": Merge(), "tidy": Tidy()}

    def waves(self, job: Job, store: Storage) -> list[str]:
        return [] if job.stage(NAME) is None else list(self._waves)

    def wave(self, name: str) -> Wave:
        try:
            return self._waves[name]
        except KeyError:
            raise ValueError(f"skeleton has no wave {name!r}") from None


STAGE = SkeletonStage()
