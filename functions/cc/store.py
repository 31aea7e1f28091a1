"""The cc stage's intermediate objects under `<dest>/cc/`, and their bytes.

Every object is a deterministic function of the task's inputs, so a retried task rewrites the
same bytes. A block's faces and statistics are stored apart because a merge task needs only the
faces of its neighbours' blocks. Its labels are not stored: the remap wave labels the block again
(block.py says why).

    cc/faces/<block>       codec: the six outermost label layers (block.faces_of)
    cc/stats/<block>       codec: voxels, bbox and coordinate sums per segment
    cc/partials/<level>/<task>   codec: a partial merge (merge.py)
    cc/mapping             raw: block row index, then (id, global id) rows, sorted by id
    cc/segments.json       number of global segments and the segmentation's data type
"""
from __future__ import annotations

import json

import numpy as np

from emcore.storage import Storage
from functions.cc import codec
from functions.cc.grid import ID_STRIDE

MAPPING = "cc/mapping"
SEGMENTS = "cc/segments.json"
LOCAL = np.uint64(ID_STRIDE - 1)  # an id's low bits are its block-local label (grid.ID_STRIDE)


def put_summary(store: Storage, block: int, summary: dict) -> None:
    store.write(f"cc/faces/{block}", codec.encode(summary["faces"]))
    store.write(f"cc/stats/{block}", codec.encode(summary["stats"]))


def get_faces(store: Storage, block: int) -> dict:
    return codec.decode(store.read(f"cc/faces/{block}"))


def get_stats(store: Storage, block: int) -> dict:
    return codec.decode(store.read(f"cc/stats/{block}"))


def put_partial(store: Storage, level: int, task: int, partial: dict) -> None:
    store.write(f"cc/partials/{level}/{task}", codec.encode(partial))


def get_partial(store: Storage, level: int, task: int) -> dict:
    return codec.decode(store.read(f"cc/partials/{level}/{task}"))


def put_mapping(store: Storage, mapping: dict, blocks: int) -> None:
    """The whole mapping in one object laid out for ranged reads: `blocks + 1` int64 row starts
    (the rows of block c are [start[c], start[c+1])), then (id, global) uint64 pairs. A remap
    task reads 16 bytes of index and its own rows: O(1) requests whatever the volume's size,
    and the finalize task writes one object, not one per block."""
    ids = np.asarray(mapping["ids"], dtype=np.uint64)
    bases = np.arange(blocks + 1, dtype=np.uint64) * np.uint64(ID_STRIDE)
    starts = np.searchsorted(ids, bases).astype("<i8")
    rows = np.stack([ids, np.asarray(mapping["global"], dtype=np.uint64)], axis=1).astype("<u8")
    store.write(MAPPING, starts.tobytes() + rows.tobytes())


def get_block_mapping(store: Storage, block: int, blocks: int) -> dict:
    """The block's rows of the mapping, keyed by local label (block.local_labels)."""
    start, end = np.frombuffer(store.read_range(MAPPING, 8 * block, 8 * block + 16), dtype="<i8")
    at = 8 * (blocks + 1) + 16 * int(start)
    raw = store.read_range(MAPPING, at, at + 16 * int(end - start)) if end > start else b""
    rows = np.frombuffer(raw, dtype="<u8").reshape(-1, 2)
    return {"ids": rows[:, 0] & LOCAL, "global": rows[:, 1]}


def put_segments(store: Storage, count: int) -> None:
    # uint32 halves the segmentation's label tables; uint64 only when the ids need it.
    data_type = "uint32" if count < 2**32 else "uint64"
    store.write(SEGMENTS, (json.dumps({"data_type": data_type, "segments": count}, sort_keys=True) + "\n").encode())


def get_segments(store: Storage) -> dict:
    return json.loads(store.read(SEGMENTS))


def delete_blocks(store: Storage, blocks) -> int:
    """Delete the blocks' faces and statistics; returns how many keys."""
    return store.delete_all(f"cc/{kind}/{c}" for c in blocks for kind in ("faces", "stats"))


def delete_shared(store: Storage, levels: list[int]) -> int:
    """Delete the merge tree's partials (`levels`: partials per level) and the mapping."""
    partials = [f"cc/partials/{level}/{t}" for level, count in enumerate(levels) for t in range(count)]
    return store.delete_all([*partials, MAPPING])
