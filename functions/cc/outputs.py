"""The cc stage's user-facing tables: `<dest>/segments.csv`, the same rows typed in
`<dest>/segments.parquet`, and the segmentation's Neuroglancer
segment properties (`segmentation/segment_properties/info`, inline form of the spec in
google/neuroglancer src/datasource/precomputed/segment_properties.md), so that each segment's
size and centroid show in the viewer next to its id. Both come from the same rows.

With a base segmentation (relations.py) each row also has its partners, their contacts (voxel
faces), the base segments it overlaps with their voxel counts, and with `mergethresh` how many
segments it joins (`components`).
"""
from __future__ import annotations

import json

from emcore.storage import Storage
from functions.cc.descriptor import Descriptor
from functions.cc.remap import CSV_HEADER, relation_rows, segment_rows, segments_csv

SEGMENTS_CSV = "segments.csv"
SEGMENTS_PARQUET = "segments.parquet"
PROPERTIES_DIR = "segment_properties"  # relative to the segmentation, as its info names it
PROPERTIES = f"segmentation/{PROPERTIES_DIR}/info"


def segment_properties(rows: list[dict]) -> dict:
    """Voxel count as the label and as a number (uint32 unless a count needs more: the spec's
    numbers stop at 32 bits), and the centroid in physical units."""
    voxels = [r["voxels"] for r in rows]
    count_type = "uint32" if max(voxels, default=0) < 2**32 else "float32"
    properties = [
        {"id": "size", "type": "label", "values": [f"{v} voxels" for v in voxels]},
        {"id": "voxels", "type": "number", "data_type": count_type, "values": voxels,
         "description": "voxel count"},
    ]
    for axis, name in enumerate("xyz"):
        properties.append({"id": f"centroid_{name}", "type": "number", "data_type": "float32",
                           "values": [r["centroid_phys"][axis] for r in rows],
                           "description": f"centroid {name} in physical units (nm)"})
    if rows and "partner_a" in rows[0]:
        # Base ids are uint64, which the spec's numbers cannot hold: one description line instead.
        properties.append({"id": "relations", "type": "description",
                           "values": [_describe(r) for r in rows]})
    return {"@type": "neuroglancer_segment_properties",
            "inline": {"ids": [str(r["id"]) for r in rows], "properties": properties}}


def _describe(row: dict) -> str:
    partners = [f"{row[f'partner_{s}']} ({row[f'contact_{s}']} faces)" for s in "ab" if row[f"partner_{s}"]]
    overlaps = [f"{b} ({n} voxels)" for b, n in row["overlaps"]]
    text = f"partners: {', '.join(partners) or 'none'}; overlaps: {', '.join(overlaps) or 'none'}"
    return text + (f"; {row['components']} segments merged" if row.get("components", 1) > 1 else "")


def write_tables(store: Storage, table: dict, descriptor: Descriptor, pairs: dict | None = None) -> int:
    """Write both tables for the merge's final `table` (and, with a base segmentation, its
    `pairs`: relations.partners); returns the number of segments."""
    rows = segment_rows(table, descriptor.resolution, descriptor.voxel_offset)
    columns = relation_rows(rows, table, pairs) if pairs is not None else []
    store.write(SEGMENTS_CSV, segments_csv(rows, columns).encode())
    store.write(SEGMENTS_PARQUET, segments_parquet(rows, columns))
    store.write(PROPERTIES, json.dumps(segment_properties(rows), separators=(",", ":")).encode())
    return len(rows)


def segments_parquet(rows: list[dict], columns=()) -> bytes:
    """segments.csv's columns, typed, for tables too large to read as text: ids, counts and
    partners as uint64 (exact where a reader would parse CSV numbers as float64, past 2^53),
    centroids float64, bounding boxes int64, `overlaps` a list of (base, voxels); zstd-compressed.
    The bytes depend only on the rows (no time is stored), so a rerun rewrites the same file."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    names = CSV_HEADER.split(",")
    data = {"id": pa.array([r["id"] for r in rows], pa.uint64()),
            "voxels": pa.array([r["voxels"] for r in rows], pa.uint64())}
    for axis, name in enumerate(names[2:5]):
        data[name] = pa.array([r["centroid"][axis] for r in rows], pa.float64())
    for axis, name in enumerate(names[5:8]):
        data[name] = pa.array([r["centroid_phys"][axis] for r in rows], pa.float64())
    for axis, name in enumerate(names[8:14]):
        data[name] = pa.array([r["bbox"][axis] for r in rows], pa.int64())
    overlap = pa.list_(pa.struct([("base", pa.uint64()), ("voxels", pa.uint64())]))
    for c in columns:
        data[c] = (pa.array([[{"base": b, "voxels": n} for b, n in r[c]] for r in rows], overlap)
                   if c == "overlaps" else pa.array([r[c] for r in rows], pa.uint64()))
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(data), sink, compression="zstd")
    return sink.getvalue().to_pybytes()
