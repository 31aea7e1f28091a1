"""Which segments of a job's segmentation have a mesh (or a skeleton), read from the sharded
mesh's (or skeletons') own indices.

The viewer selects a few segments so that Neuroglancer draws their meshes, and a selected segment
whose mesh is missing keeps the viewer "not ready" for good (field notes): so it selects only
segments this lookup finds. A lookup reads the shard's index for the segment's minishard and that
minishard's index (two small ranged reads), never a whole shard.
"""
from __future__ import annotations

import gzip
import json

import numpy as np

from emcore.precomputed import Precomputed
from emcore.storage import NotFound, Storage
from emcore.shards import locate, shard_key


def mesh_dir(store: Storage, segmentation: str = "segmentation", kind: str = "mesh") -> str | None:
    """The directory of the meshes (`kind` "mesh") or skeletons ("skeletons") the segmentation's
    `info` names (relative to the job root), or None."""
    info = Precomputed.read_if_present(store.url + segmentation)
    return f"{segmentation}/{info.reference(kind)}" if info and info.reference(kind) else None


def meshed(store: Storage, ids: list[int], segmentation: str = "segmentation", kind: str = "mesh") -> list[int]:
    """The ids, in their order, that the segmentation's sharded meshes (or skeletons) hold."""
    directory = mesh_dir(store, segmentation, kind)
    if directory is None or not ids:
        return []
    try:
        spec = json.loads(store.read(f"{directory}/info")).get("sharding")
    except NotFound:
        return []
    if spec is None:
        return []      # unsharded meshes: one manifest per id, not what the mesh stage writes
    shards, minishards = locate(ids, spec)
    found: dict[tuple[int, int], set[int]] = {}
    for shard, minishard in set(zip(shards.tolist(), minishards.tolist())):
        found[shard, minishard] = _minishard_ids(store, f"{directory}/{shard_key(shard, spec)}", minishard, spec)
    return [i for i, s, m in zip(ids, shards.tolist(), minishards.tolist()) if i in found[s, m]]


def _minishard_ids(store: Storage, key: str, minishard: int, spec: dict) -> set[int]:
    index_size = 16 << spec["minishard_bits"]
    try:
        start, end = np.frombuffer(store.read_range(key, 16 * minishard, 16 * minishard + 16), "<u8").tolist()
    except NotFound:
        return set()
    if end == start:
        return set()
    blob = store.read_range(key, index_size + start, index_size + end)
    if spec["minishard_index_encoding"] == "gzip":
        blob = gzip.decompress(blob)
    rows = np.frombuffer(blob, "<u8").reshape(3, -1)
    return set(np.cumsum(rows[0]).tolist())     # ids are delta-encoded
