"""The cc stage's user-facing tables: `<dest>/segments.csv` and the segmentation's Neuroglancer
segment properties (`segmentation/segment_properties/info`, inline form of the spec in
google/neuroglancer src/datasource/precomputed/segment_properties.md), so that each segment's
size and centroid show in the viewer next to its id. Both come from the same rows.
"""
from __future__ import annotations

import json

from emcore.storage import Storage
from functions.cc.descriptor import Descriptor
from functions.cc.remap import segment_rows, segments_csv

SEGMENTS_CSV = "segments.csv"
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
    return {"@type": "neuroglancer_segment_properties",
            "inline": {"ids": [str(r["id"]) for r in rows], "properties": properties}}


def write_tables(store: Storage, table: dict, descriptor: Descriptor) -> int:
    """Write both tables for the merge's final `table`; returns the number of segments."""
    rows = segment_rows(table, descriptor.resolution, descriptor.voxel_offset)
    store.write(SEGMENTS_CSV, segments_csv(rows).encode())
    store.write(PROPERTIES, json.dumps(segment_properties(rows), separators=(",", ":")).encode())
    return len(rows)
