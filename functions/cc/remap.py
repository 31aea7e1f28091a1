"""Last wave of the cc stage: write global ids into each chunk, and the segment table.

A remap task needs only its chunk's slice of the mapping (ids of a chunk are a contiguous range,
see grid.ID_STRIDE), so the merge can store the mapping once, sorted, and each task reads a range.
"""
from __future__ import annotations

import fastremap
import numpy as np

from functions.cc.grid import ID_STRIDE, chunk_base


def chunk_mapping(mapping: dict, chunk_index: int) -> dict:
    """The part of a sorted mapping {"ids", "global"} that covers one chunk's ids."""
    ids = np.asarray(mapping["ids"], dtype=np.uint64)
    lo, hi = np.searchsorted(ids, [np.uint64(chunk_base(chunk_index)),
                                   np.uint64(chunk_base(chunk_index) + ID_STRIDE)])
    return {"ids": ids[lo:hi], "global": np.asarray(mapping["global"], dtype=np.uint64)[lo:hi]}


def remap_chunk(labels: np.ndarray, mapping: dict, dtype=np.uint64) -> np.ndarray:
    """Replace chunk ids by global ids (0 stays 0; a segment under the size threshold becomes 0).
    `mapping` may be the whole mapping or its chunk_mapping slice. An id missing from it is an
    error (KeyError), not silently kept: it means labels and mapping come from different runs.
    `labels` may also be a chunk's local labels (uint32, as the stage stores them) with a mapping
    keyed by local label."""
    top = int(np.max(mapping["global"])) if len(mapping["global"]) else 0
    if np.dtype(dtype) == np.uint32 and top >= 2**32:
        raise ValueError("global ids do not fit uint32")
    table = dict(zip(np.asarray(mapping["ids"]).tolist(), np.asarray(mapping["global"]).tolist()))
    table[0] = 0
    labels = np.asarray(labels)
    # Remap in the labels' own unsigned type when the global ids fit it: fastremap is ~6x faster
    # on uint32 than on uint64, and no 8-byte copy of the chunk is made.
    if labels.dtype.kind != "u" or top > np.iinfo(labels.dtype).max:
        labels = labels.astype(np.uint64)
    out = fastremap.remap(labels, table, preserve_missing_labels=False, in_place=False)
    return out.astype(dtype, copy=False)


def segment_rows(table: dict, resolution=(1, 1, 1), voxel_offset=(0, 0, 0)) -> list[dict]:
    """One row per global segment: id, voxels, centroid in voxels (volume index space, i.e.
    including voxel_offset) and in physical units (index * resolution, the precomputed convention),
    bbox [x0, y0, z0, x1, y1, z1) in voxels with the end exclusive."""
    res = np.asarray(resolution, dtype=np.float64)
    off = np.asarray(voxel_offset, dtype=np.int64)
    voxels = np.asarray(table["voxels"], dtype=np.int64)
    centroid = np.asarray(table["sums"], dtype=np.int64) / np.maximum(voxels, 1)[:, None] + off
    bbox = np.asarray(table["bbox"], dtype=np.int64) + np.concatenate([off, off])
    physical = centroid * res
    return [{"id": int(i), "voxels": int(v), "centroid": c.tolist(), "centroid_phys": p.tolist(),
             "bbox": b.tolist()}
            for i, v, c, p, b in zip(np.asarray(table["ids"]).tolist(), voxels.tolist(),
                                     centroid, physical, bbox)]


CSV_HEADER = "id,voxels,centroid_x,centroid_y,centroid_z,x,y,z,bbox_x0,bbox_y0,bbox_z0," \
             "bbox_x1,bbox_y1,bbox_z1"


def segments_csv(rows: list[dict]) -> str:
    """segments.csv: centroid in voxels, then x, y, z in physical units, then the bbox."""
    lines = [CSV_HEADER]
    for r in rows:
        fields = [r["id"], r["voxels"], *(repr(float(v)) for v in r["centroid"]),
                  *(repr(float(v)) for v in r["centroid_phys"]), *r["bbox"]]
        lines.append(",".join(str(f) for f in fields))
    return "\n".join(lines) + "\n"
