"""What a job wrote, one line per output, read back from the job root: what `make demo` prints at
the end, so a user sees every stage's result and where it lies before opening the viewer."""
from __future__ import annotations

import json

from emcore.precomputed import Precomputed
from emcore.storage import NotFound, Storage

# Counting meshes reads one minishard index per (shard, minishard) pair: cheap for the segments
# of a demo or a test, not for a connectome, which the line then describes without the count.
MESH_COUNT_LIMIT = 20000


def describe_outputs(store: Storage) -> list[str]:
    lines = []
    for describe in (_alignment, _volume("image"), _volume("image_raw"), _ome_zarr, _segmentation, _meshes,
                     _skeletons):
        lines += describe(store)
    return lines


def _alignment(store: Storage) -> list[str]:
    from functions.align.report import describe
    from emcore.alignment import read_transforms
    doc = read_transforms(store)
    if doc is None:
        return []
    lines = describe(doc)
    flagged = sum(1 for s in doc["sections"] if s["flags"])
    verdict = "every section placed by its pairs" if not flagged and not doc["poor_pairs"] else (
        f"{flagged} section(s) flagged, {len(doc['poor_pairs'])} poor pair(s): see above")
    return [f"align/transforms.json   {lines[0]}; {verdict}", *[f"{'':24}{line.strip()}" for line in lines[1:]],
            f"{'align/report.png':24}per-pair inliers and residuals (report.csv: the same as a table)"]


def _info(store: Storage, name: str) -> Precomputed | None:
    return Precomputed.read_if_present(store.url + name)


def _geometry(info: Precomputed) -> str:
    s0 = info.scale(0)
    size = "x".join(str(n) for n in s0.size)
    resolution = "x".join(f"{r:g}" for r in s0.resolution)
    return f"{size} voxels of {resolution} nm, {len(info.scales)} scales, {s0.encoding}"


def _volume(name: str):
    def describe(store: Storage) -> list[str]:
        info = _info(store, name)
        if info is None:
            return []
        return [f"{name + '/':24}{info.layer_type} {info.data_type}: {_geometry(info)}"]
    return describe


def _ome_zarr(store: Storage) -> list[str]:
    from emcore import omezarr
    try:
        group = json.loads(store.read(f"{omezarr.NAME}/{omezarr.ZARR_JSON}"))
        scale0 = json.loads(store.read(f"{omezarr.NAME}/0/{omezarr.ZARR_JSON}"))
    except NotFound:
        return []
    ome = group["attributes"]["ome"]
    (multiscale,) = ome["multiscales"]
    size = "x".join(str(n) for n in reversed(scale0["shape"]))
    scale_transform = multiscale["datasets"][0]["coordinateTransformations"][0]
    resolution = "x".join(f"{r:g}" for r in reversed(scale_transform["scale"]))
    return [f"{omezarr.NAME + '/':24}OME-Zarr {ome['version']} {scale0['data_type']}: {size} voxels of "
            f"{resolution} nm, {len(multiscale['datasets'])} scales, zarr v3 sharded, zstd"]


def _segment_voxels(store: Storage, info: Precomputed) -> tuple[list[int], list[int]]:
    """(ids, voxel counts) from the segmentation's segment properties."""
    properties = info.reference("segment_properties")
    if properties is None:
        return [], []
    try:
        inline = json.loads(store.read(f"segmentation/{properties}/info"))["inline"]
    except (KeyError, NotFound):
        return [], []
    voxels = next((p["values"] for p in inline["properties"] if p["id"] == "voxels"), [])
    return [int(i) for i in inline["ids"]], voxels


def _segmentation(store: Storage) -> list[str]:
    info = _info(store, "segmentation")
    if info is None:
        return []
    ids, voxels = _segment_voxels(store, info)
    sizes = f"; largest {max(voxels)} voxels, median {sorted(voxels)[len(voxels) // 2]}" if voxels else ""
    lines = [f"{'segmentation/':24}{len(ids)} segments{sizes}: {_geometry(info)}"]
    if info.reference("segment_properties") is not None:
        lines.append(f"{'':24}segment properties (size, centroid) shown in the viewer")
    try:
        table = store.read("segments.csv").decode()
        rows = table.count("\n") - 1
        # A job with `baseseg` adds the relations to it (functions/cc/relations.py).
        related = ", partners, overlaps" if "partner_a" in table.split("\n", 1)[0] else ""
        lines.append(f"{'segments.csv':24}{rows} rows: id, voxels, centroid, bounding box{related}")
    except NotFound:
        pass
    return lines


def _meshes(store: Storage) -> list[str]:
    from orchestrator.meshed import mesh_dir, meshed
    info = _info(store, "segmentation")
    directory = mesh_dir(store) if info else None
    if directory is None:
        return []
    ids, _ = _segment_voxels(store, info)
    if len(ids) > MESH_COUNT_LIMIT:
        return [f"{directory + '/':24}multi-resolution meshes (Draco, sharded) of {len(ids)} segments' layer"]
    return [f"{directory + '/':24}multi-resolution meshes (Draco, sharded) of {len(meshed(store, ids))} of "
            f"{len(ids)} segments"]


def _skeletons(store: Storage) -> list[str]:
    from orchestrator.meshed import mesh_dir, meshed
    info = _info(store, "segmentation")
    directory = mesh_dir(store, kind="skeletons") if info else None
    if directory is None:
        return []
    ids, _ = _segment_voxels(store, info)
    if len(ids) > MESH_COUNT_LIMIT:
        return [f"{directory + '/':24}skeletons (one tree per segment, sharded) of {len(ids)} segments' layer"]
    return [f"{directory + '/':24}skeletons (one tree per segment, sharded) of "
            f"{len(meshed(store, ids, kind='skeletons'))} of {len(ids)} segments"]
