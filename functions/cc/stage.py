"""The cc stage: label chunks, merge them as a tree of tasks, remap, and build the segmentation's
multiscale pyramid (see layout.py for the waves, store.py for what they leave under `cc/`).

Every task reads only its share: a chunk, a run of chunks' statistics plus the faces of their
neighbours, up to FANIN partials, or one chunk's rows of the mapping.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from emcore.job import Job
from emcore.stage import Stage, TaskContext, TaskError
from emcore.storage import Storage
from emcore.volume import open_scale, read_block, write_info
from functions.cc import descriptor, store as cc_store
from functions.cc.chunk import label_chunk, local_labels
from functions.cc.cost import cost as task_cost
from functions.cc.grid import seam_pairs
from functions.cc.layout import (CHUNKS, COMBINE, DOWNSAMPLE, FINALIZE, MERGE, REMAP, TIDY, Layout,
                                 parse_wave)
from functions.cc.merge import combine, finalize, merge_partial
from functions.cc.outputs import PROPERTIES_DIR, write_tables
from functions.cc.remap import remap_chunk
from functions.cc.seams import seam_edges

SEGMENTATION = "segmentation"


def _layout(job: Job, store: Storage) -> Layout:
    return Layout(job, descriptor.load(store))


class CCStage(Stage):
    name = "cc"

    def cost(self, job: Job, wave: str, params: dict[str, Any], store: Storage) -> dict[str, int]:
        return task_cost(job, wave, params, store)

    def waves(self, job: Job, store: Storage) -> list[str]:
        if job.stage("cc") is None:
            return []
        found = descriptor.stored(store)
        if found is None:
            return [CHUNKS]  # provisional: the rest depends on the descriptor's size
        return Layout(job, found).waves()

    def plan(self, job: Job, wave: str, store: Storage) -> list[dict[str, Any]]:
        if wave == CHUNKS:
            found = descriptor.inspect(job)
            problem = Layout(job, found).problem()
            if problem:
                raise TaskError(problem)
            store.write(descriptor.SNAPSHOT, found.to_json())
        layout = _layout(job, store)
        if wave == REMAP:
            data_type = cc_store.get_segments(store)["data_type"]
            write_info(store, SEGMENTATION, layout.multiscale.info(
                "segmentation", data_type, "compressed_segmentation", segment_properties=PROPERTIES_DIR))
        return layout.tasks(wave)

    def stand_in(self, job: Job, wave: str, store: Storage) -> None:
        """For `emctl plan`: a segment count in place of finalize's, so remap can plan."""
        if wave == FINALIZE:
            cc_store.put_segments(store, 0)

    def run(self, ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        layout = _layout(ctx.job, ctx.store)
        kind, index = parse_wave(ctx.wave)
        return _RUN[kind](ctx, layout, index, params)


def _descriptor_block(layout: Layout, params: dict) -> np.ndarray:
    """The chunk's box of the descriptor (read by both the chunks and the remap wave)."""
    d = layout.descriptor
    lo, hi = params["lo"], params["hi"]
    try:
        source = open_scale(d.url, d.scale, read_only=True)
        return read_block(source, [o + a for o, a in zip(d.voxel_offset, lo)],
                          [o + b for o, b in zip(d.voxel_offset, hi)])
    except ValueError as e:  # TensorStore's error for unreadable or undecodable chunks
        raise TaskError(f"cannot read {d.url} scale {d.scale} box {lo}-{hi}: {e}") from None


def _label(ctx: TaskContext, layout: Layout, _: int, params: dict) -> dict:
    options = layout.options
    data = _descriptor_block(layout, params)
    _, summary = label_chunk(data, params["lo"], params["chunk"], ccthresh=options["ccthresh"],
                             connectivity=options["connectivity"], dustthresh=options["dustthresh"])
    cc_store.put_summary(ctx.store, params["chunk"], summary)
    return {"bytes_in": int(data.nbytes), "segments": len(summary["stats"]["ids"])}


def _merge(ctx: TaskContext, layout: Layout, _: int, params: dict) -> dict:
    """Seams of a run of chunks with their later neighbours. Faces are loaded when a pair first
    needs them and dropped once their chunk has been the lower side of its pairs, so at most
    about one z-slab of chunks' faces is held, however long the run."""
    first, end = params["chunks"]
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
    return {"chunks": end - first, "edges": int(len(edges))}


def _partials(ctx: TaskContext, level: int, parts) -> list[dict]:
    return [cc_store.get_partial(ctx.store, level, t) for t in range(*parts)]


def _combine(ctx: TaskContext, layout: Layout, level: int, params: dict) -> dict:
    cc_store.put_partial(ctx.store, level, ctx.task, combine(_partials(ctx, level - 1, params["parts"])))
    return {"partials": params["parts"][1] - params["parts"][0]}


def _finalize(ctx: TaskContext, layout: Layout, _: int, params: dict) -> dict:
    options = layout.options
    partials = _partials(ctx, len(layout.levels) - 1, params["parts"])
    mapping, table = finalize(partials, options["szthresh"], options["dustthresh"])
    cc_store.put_mapping(ctx.store, mapping, layout.chunks)
    count = write_tables(ctx.store, table, layout.descriptor)
    cc_store.put_segments(ctx.store, count)
    return {"segments": count, "pieces": int(len(mapping["ids"]))}


def _segmentation(ctx: TaskContext) -> list:
    return [(ctx.store.url + SEGMENTATION + "/", lambda a: a)]


def _remap(ctx: TaskContext, layout: Layout, _: int, params: dict) -> dict:
    """Label the chunk again (the same labels as the chunks wave's, chunk.py) and write its
    global ids at every scale it owns."""
    options = layout.options
    data = _descriptor_block(layout, params)
    labels, _, _ = local_labels(data, options["ccthresh"], options["connectivity"])
    mapping = cc_store.get_chunk_mapping(ctx.store, params["chunk"], layout.chunks)
    data_type = cc_store.get_segments(ctx.store)["data_type"]
    out = remap_chunk(labels, mapping, dtype=np.dtype(data_type))
    written = layout.multiscale.write(0, params["lo"], out, "mode", _segmentation(ctx))
    return {"bytes_in": int(data.nbytes), "scales": written}


def _downsample(ctx: TaskContext, layout: Layout, wave: int, params: dict) -> dict:
    base, lo, hi = layout.multiscale.input_box(wave, params["lo"], params["hi"])
    data = read_block(open_scale(ctx.store.url + SEGMENTATION + "/", base, read_only=True), lo, hi)
    written = layout.multiscale.write(wave, params["lo"], data, "mode", _segmentation(ctx))
    return {"bytes_in": int(data.nbytes), "scales": written}


def _tidy(ctx: TaskContext, layout: Layout, _: int, params: dict) -> dict:
    """The intermediates of a run of chunks; the first task also the merge tree's and the mapping.
    The descriptor snapshot and the segment count stay: they are small and `waves()` reads one."""
    first, end = params["chunks"]
    deleted = cc_store.delete_chunks(ctx.store, range(first, end))
    if first == 0:
        deleted += cc_store.delete_shared(ctx.store, layout.levels)
    return {"deleted": deleted}


_RUN = {CHUNKS: _label, MERGE: _merge, COMBINE: _combine, FINALIZE: _finalize, REMAP: _remap,
        DOWNSAMPLE: _downsample, TIDY: _tidy}

STAGE = CCStage()
