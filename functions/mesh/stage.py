"""The mesh stage: a wave of block tasks (marching cubes, simplification, levels 0 and 1 per
finest octree node); census and route, which bring each object's records to its shard in
bounded steps (emcore/shuffle.py); a wave of merge tasks, one per shard (coarser levels, Draco,
manifests, the shard file). See docs/mesh.md."""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import fastremap
import numpy as np

from emcore.job import Job
from emcore.stage import Stage, TaskContext, TaskError, Wave
from emcore.storage import Storage, open_storage
from emcore import shards, shuffle
from emcore.segmentation import open_segmentation as _open, output_url as _output_url
from functions.mesh import fragments, geometry, multilod, surface
from functions.mesh.cost import block_cost

MESH_DIR = "mesh"       # the meshes' directory inside the job's own segmentation, as its info names it
TMP = "mesh-tmp/"
TIDY = "tidy"           # the last wave: delete the intermediates under TMP
TIDY_BLOCKS = 1000      # blocks whose two objects one tidy task deletes
_WORK = np.dtype([("block", "<u4"), ("id", "<u8"), ("offset", "<u8"), ("size", "<u8"), ("voxels", "<u8")])


def _block_key(position, ext: str) -> str:
    return f"{TMP}blocks/{fragments.chunk_name(position)}.{ext}"


@dataclass(frozen=True)
class BlockTask:
    block: list[int]        # the block's position in the grid of `stages.mesh.block` boxes


@dataclass(frozen=True)
class RunTask:
    run: int                # the run's first block, in the grid's order (shuffle.Runs)


@dataclass(frozen=True)
class ShardTask:
    shard: int


@dataclass(frozen=True)
class TidyTask:
    blocks: list[int]       # blocks [first, end), in the grid's order (geometry.blocks)


def _positions(job: Job, seg) -> list:
    return geometry.chunks(seg.size, job.stage("mesh")["block"])


def _block_runs(job: Job, seg) -> shuffle.Runs:
    return shuffle.Runs(len(_positions(job, seg)))


class Blocks(Wave):
    """Marching cubes, simplification, levels 0 and 1 per finest octree node, per block."""
    Task = BlockTask

    def plan(self, job: Job, store: Storage) -> list[BlockTask]:
        return [BlockTask(list(p)) for p in _positions(job, open_segmentation(job))]

    def run(self, ctx: TaskContext, task: BlockTask) -> dict[str, Any]:
        position = task.block
        options = ctx.job.stage("mesh")
        seg = open_segmentation(ctx.job)
        block, lods, error = options["block"], options["lods"], float(options["simplification_error"])
        lo, hi = geometry.read_box(position, seg.size, block)
        labels = seg.read(lo, hi)
        if options["object_ids"]:
            labels = fastremap.mask_except(labels, [int(i) for i in options["object_ids"]], in_place=True)
        core = labels[tuple(slice(1, 1 + min(c, s - p * c)) for p, c, s in zip(position, block, seg.size))]
        ids, counts = fastremap.unique(core, return_counts=True)
        voxels = {int(i): int(n) for i, n in zip(ids, counts) if i != 0}
        pieces = surface.mesh_chunk(labels, lo, block)
        res, voxel = seg.resolution, float(max(seg.resolution))
        bound0, bound1 = multilod.lod_bound(error, voxel, 0), multilod.lod_bound(error, voxel, 1)
        records, tri_in, tri_out = {}, 0, 0
        for oid in sorted(set(voxels) | set(pieces)):
            parts = []
            for piece in pieces.get(oid, []):
                tri_in += len(piece.faces)
                f0, check = multilod.simplify_piece(piece.half, piece.faces, bound0, res, block, 0, True)
                parts.append((0, piece.node, *multilod.compact(piece.half, f0)))
                tri_out += len(f0)
                if lods >= 2:
                    # Level 1 from level 0, bounded against the unsimplified surface (reusing its check).
                    f1, _ = multilod.simplify_piece(piece.half, f0, bound1, res, block, 0, True, check)
                    parts.append((1, piece.node, *multilod.compact(piece.half, f1)))
            records[oid] = (voxels.get(oid, 0), fragments.encode_record(parts))
        index, data = fragments.encode_chunk(records)
        ctx.store.write(_block_key(position, "dat"), data)
        ctx.store.write(_block_key(position, "idx"), index)   # last: an index means its data is complete
        return {"bytes_in": int(labels.nbytes), "objects": len(records), "triangles": tri_in, "triangles_lod0": tri_out}

    def cost(self, job: Job, task: BlockTask, store: Storage) -> dict[str, int]:
        return block_cost(job, open_segmentation(job), task.block)

    def stand_in(self, job: Job, store: Storage) -> None:
        """Empty block indices, so merge can plan (it has no objects to merge: its size depends
        on the data)."""
        index, _ = fragments.encode_chunk({})
        for position in _positions(job, open_segmentation(job)):
            store.write(_block_key(position, "idx"), index)


class Census(Wave):
    """Per run of blocks: their indices as one table of records, and how many objects and bytes."""
    Task = RunTask

    def plan(self, job: Job, store: Storage) -> list[RunTask]:
        return [RunTask(run) for run in _block_runs(job, open_segmentation(job))]

    def run(self, ctx: TaskContext, task: RunTask) -> dict[str, Any]:
        seg = open_segmentation(ctx.job)
        positions = _positions(ctx.job, seg)
        tables = []
        for i in _block_runs(ctx.job, seg).blocks(task.run):
            table = fragments.decode_index(ctx.store.read(_block_key(positions[i], "idx")))
            work = np.zeros(len(table), _WORK)
            work["block"], work["id"], work["offset"], work["size"] = i, table["id"], table["offset"], table["size"]
            work["voxels"] = table["voxels"]
            tables.append(work)
        rows = np.concatenate(tables) if tables else np.zeros(0, _WORK)
        return shuffle.write_census(ctx.store, TMP, task.run, rows, rows["id"][rows["voxels"] > 0],
                                    ctx.job.stage("mesh")["object_ids"])

    def cost(self, job: Job, task: RunTask, store: Storage) -> dict[str, int]:
        return {"bytes_in": 0, "reads": len(_block_runs(job, open_segmentation(job)).blocks(task.run)), "writes": 2}

    def stand_in(self, job: Job, store: Storage) -> None:
        shuffle.stand_in(store, TMP, _block_runs(job, open_segmentation(job)), _WORK)


class Route(Wave):
    """Its plan reads the runs' summaries (at most shuffle.RUNS_MAX), chooses the sharding and
    writes the meshes' `info`; each task sorts a run's records by shard."""
    Task = RunTask

    def plan(self, job: Job, store: Storage) -> list[RunTask]:
        options = job.stage("mesh")
        seg = open_segmentation(job)
        runs = _block_runs(job, seg)
        census = shuffle.read_census(store, TMP, runs)
        if options["object_ids"]:
            missing = sorted(set(options["object_ids"]) - census["found"])
            if missing:
                listed = ", ".join(str(m) for m in missing[:10]) + (" ..." if len(missing) > 10 else "")
                raise TaskError(f"stages.mesh.object_ids: segment{'s' if len(missing) > 1 else ''} {listed} "
                                f"not present in {seg.url} at scale {seg.mip}")
        # As many merge tasks as a quarter of the block tasks, for parallelism in small jobs too.
        spec = shards.choose_sharding(census["ids"], census["bytes"], min_shards=runs.count // 4)
        out = open_storage(output_url(job, seg))
        out.write("info", (json.dumps(mesh_info(spec), indent=1, sort_keys=True) + "\n").encode())
        if seg.own and seg.volume.reference("mesh") != MESH_DIR:
            seg.volume.with_reference("mesh", MESH_DIR).write()
        return [RunTask(run) for run in runs]

    def run(self, ctx: TaskContext, task: RunTask) -> dict[str, Any]:
        return shuffle.route(ctx.store, TMP, task.run, _WORK, mesh_info_spec(ctx.job, open_segmentation(ctx.job)))

    def cost(self, job: Job, task: RunTask, store: Storage) -> dict[str, int]:
        return {"bytes_in": 0, "reads": 2, "writes": 2}

    def stand_in(self, job: Job, store: Storage) -> None:
        seg = open_segmentation(job)
        for run in _block_runs(job, seg):
            shuffle.route(store, TMP, run, _WORK, mesh_info_spec(job, seg))


class Merge(Wave):
    """Per shard: its objects' records gathered from every run, objects below `min_voxels` (all
    of an object's records are here) left out; coarser levels, Draco, manifests, the shard file."""
    Task = ShardTask

    def plan(self, job: Job, store: Storage) -> list[ShardTask]:
        spec = mesh_info_spec(job, open_segmentation(job))
        return [ShardTask(shard) for shard in range(2 ** spec["shard_bits"])]

    def run(self, ctx: TaskContext, task: ShardTask) -> dict[str, Any]:
        shard = task.shard
        options = ctx.job.stage("mesh")
        seg = open_segmentation(ctx.job)
        positions = _positions(ctx.job, seg)
        work = shuffle.gather(ctx.store, TMP, _block_runs(ctx.job, seg), _WORK, shard)
        ids, inverse = np.unique(work["id"], return_inverse=True)
        voxels = np.zeros(len(ids), np.uint64)
        np.add.at(voxels, inverse, work["voxels"])
        keep = (voxels > 0) & (voxels >= options["min_voxels"])
        work = work[keep[inverse]]
        if len(work) == 0:
            return {"objects": 0, "bytes_out": 0}      # no object of this shard is meshed: no shard file
        objects: dict[int, dict[int, dict[tuple, list]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
        for block_index in np.unique(work["block"]):
            rows = np.sort(work[work["block"] == block_index], order="offset")
            key = _block_key(positions[int(block_index)], "dat")
            for run in _runs(rows):
                start, end = int(run["offset"][0]), int(run["offset"][-1] + run["size"][-1])
                blob = ctx.store.read_range(key, start, end)
                for row in run:
                    a = int(row["offset"]) - start
                    for lod, node, half, faces in fragments.decode_record(blob[a:a + int(row["size"])]):
                        objects[int(row["id"])][lod][node].append((half, faces))
        lods, error, block = options["lods"], float(options["simplification_error"]), options["block"]
        entries, nbytes = [], 0
        for oid in sorted(objects):
            pieces = {lod: {node: parts[0] if len(parts) == 1 else surface.weld([p[0] for p in parts], [p[1] for p in parts])
                            for node, parts in nodes.items()} for lod, nodes in objects[oid].items()}
            data, manifest = multilod.encode_object(pieces, lods, block, seg.resolution, seg.voxel_offset, error)
            entries.append((oid, data, manifest))
            nbytes += len(data) + len(manifest)
        spec = mesh_info_spec(ctx.job, seg)
        out = open_storage(output_url(ctx.job, seg))
        out.write(shards.shard_key(shard, spec), shards.build_shard(entries, spec))
        return {"objects": len(entries), "bytes_out": nbytes}

    def cost(self, job: Job, task: ShardTask, store: Storage) -> dict[str, int]:
        # Its work grows with the objects found, which no plan knows: its storage operations only.
        return {"bytes_in": 0, "reads": 2 * len(list(_block_runs(job, open_segmentation(job)))), "writes": 1}


class Tidy(Wave):
    """Delete a run of blocks' meshes and indices; the first task also census's and route's
    objects (four per run, at most 4 * shuffle.RUNS_MAX)."""
    Task = TidyTask

    def plan(self, job: Job, store: Storage) -> list[TidyTask]:
        count = len(_positions(job, open_segmentation(job)))
        return [TidyTask([c, min(c + TIDY_BLOCKS, count)]) for c in range(0, count, TIDY_BLOCKS)]

    def run(self, ctx: TaskContext, task: TidyTask) -> dict[str, Any]:
        first, end = task.blocks
        positions = _positions(ctx.job, open_segmentation(ctx.job))[first:end]
        keys = [_block_key(p, ext) for p in positions for ext in ("idx", "dat")]
        if first == 0:
            keys += shuffle.temporaries(TMP, _block_runs(ctx.job, open_segmentation(ctx.job)))
        return {"deleted": ctx.store.delete_all(keys)}

    def cost(self, job: Job, task: TidyTask, store: Storage) -> dict[str, int]:
        return {"bytes_in": 0, "reads": 1, "writes": 0}


class MeshStage(Stage):
    name = "mesh"
    _waves = {"blocks": Blocks(), "census": Census(), "route": Route(), "merge": Merge(), TIDY: Tidy()}

    def waves(self, job: Job, store: Storage) -> list[str]:
        options = job.stage("mesh")
        if options is None:
            return []
        return ["blocks", "census", "route", "merge"] + ([] if options["keep_intermediates"] else [TIDY])

    def wave(self, name: str) -> Wave:
        try:
            return self._waves[name]
        except KeyError:
            raise ValueError(f"mesh has no wave {name!r}") from None


def _runs(rows: np.ndarray, gap: int = 1 << 16) -> list[np.ndarray]:
    """Split offset-sorted records into runs read with one ranged read each: records less than
    `gap` bytes apart share a read (the other shards' records between them are read and skipped)."""
    ends = rows["offset"] + rows["size"]
    breaks = np.flatnonzero(rows["offset"][1:] > ends[:-1] + np.uint64(gap)) + 1
    return np.split(rows, breaks)


def open_segmentation(job: Job):
    return _open(job, "mesh")


def output_url(job: Job, seg) -> str:
    return _output_url(job, seg, "mesh")


def mesh_info(spec: dict) -> dict:
    return {"@type": "neuroglancer_multilod_draco", "vertex_quantization_bits": multilod.QUANTIZATION_BITS,
            "transform": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0], "lod_scale_multiplier": 1.0, "sharding": spec}


def mesh_info_spec(job: Job, seg) -> dict:
    return json.loads(open_storage(output_url(job, seg)).read("info"))["sharding"]


STAGE = MeshStage()
