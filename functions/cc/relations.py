"""Relations of the cc stage's segments to a base segmentation (`baseseg`): which base segments
each segment overlaps and by how many voxels, which it touches and over how many voxel faces
(the contact), the two partners of each segment, and the merge of duplicates (`mergethresh`).

Exact across blocks, as the statistics are: a blocks task counts its own pairs (a segment's
voxel inside the block and a base id), blocks are voxel-disjoint, and the merge sums the counts
per (segment, base id) as integers.

* overlap(K, b): voxels of segment K whose base label is b (b != 0).
* contact(K, b): voxel face pairs (u, v), 6-neighbours, with u in K and v outside every segment
  (below `ccthresh`) with base label b != 0: the area of K's surface that faces b, in voxel
  faces. A pair is counted by the block that holds u; v may lie in the neighbour block, so a
  blocks task reads its box of the descriptor and of the base with a one-voxel halo. A voxel v
  above `ccthresh` next to u is in K itself (a face neighbour is connected with any
  connectivity), so "outside K" and "below ccthresh" are the same test.
* partners: the two base ids of largest contact, ordered by contact (ties: the lower id first);
  0 where fewer than two base segments touch. Without a polarity signal nothing tells pre- from
  postsynaptic, so they are named partner_a and partner_b, not pre and post.
* duplicates: segments with the same two partners (both non-zero, in either order) whose
  centroids lie within `mergethresh` nm are one segment (transitively: union-find), numbered
  where its smallest member was (ids stay consecutive); the voxels of all are written with that
  id (the merge changes the mapping the remap wave applies, so no extra wave), and its row sums
  the rows of all and says how many under `components`.
"""
from __future__ import annotations

import numpy as np

from emcore.job import Job
from emcore.precomputed import InfoError, Precomputed
from emcore.stage import TaskError
from emcore.storage import normalize_url
from functions.cc import merge   # the module: merge.py imports this one
from functions.cc.options import DEST

FIELD = "stages.cc.baseseg"
LABEL_TYPES = ("uint8", "uint16", "uint32", "uint64")
ENCODINGS = ("raw", "compressed_segmentation")   # what TensorStore decodes for segmentations
_KEYS = ("ids", "base", "overlap", "contact")


def empty() -> dict:
    return {"ids": np.zeros(0, np.uint64), "base": np.zeros(0, np.uint64),
            "overlap": np.zeros(0, np.int64), "contact": np.zeros(0, np.int64)}


def resolve_url(job: Job) -> str | None:
    url = job.stage("cc")["baseseg"]
    if url is None:
        return None
    return normalize_url(job.dest + url[len(DEST):] if url.startswith(DEST) else url)


def inspect(job: Job, size, resolution, voxel_offset) -> Precomputed | None:
    """The base segmentation, checked against the descriptor's scale being segmented (`size`,
    `resolution`, `voxel_offset`); None when the job has no `baseseg`."""
    url = resolve_url(job)
    if url is None:
        return None
    try:
        volume = Precomputed.read(url)
        scale = volume.scale(0)
    except InfoError as e:
        raise TaskError(f"{FIELD}: {e}") from None
    if volume.layer_type != "segmentation":
        raise TaskError(f"{FIELD}: {url} is a layer of type {volume.layer_type!r}; the base must be a "
                        f"segmentation (an image layer cannot be given as one)")
    if volume.data_type not in LABEL_TYPES or volume.num_channels != 1:
        raise TaskError(f"{FIELD}: {url} has data_type {volume.data_type!r} and {volume.num_channels} "
                        f"channels; a base segmentation has one channel of {', '.join(LABEL_TYPES)}")
    if scale.encoding not in ENCODINGS:
        raise TaskError(f"{FIELD}: scale 0 of {url} is encoded {scale.encoding!r}; readable encodings: "
                        f"{', '.join(ENCODINGS)}")
    for name, theirs, ours in (("size", scale.size, size), ("resolution", scale.resolution, resolution),
                               ("voxel_offset", scale.voxel_offset, voxel_offset)):
        if [float(v) for v in theirs] != [float(v) for v in ours]:
            raise TaskError(f"{FIELD}: {url} scale 0 has {name} {list(theirs)}, the descriptor's "
                            f"segmented scale has {name} {list(ours)}; they must be the same volume")
    return volume


def count_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a', b', n): every distinct pair (a[i], b[i]), sorted by a then b, and how often it occurs."""
    a = np.asarray(a, dtype=np.uint64)
    b = np.asarray(b, dtype=np.uint64)
    if a.size == 0:
        return a, b, np.zeros(0, np.int64)
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    starts = np.flatnonzero(np.concatenate([[True], (a[1:] != a[:-1]) | (b[1:] != b[:-1])]))
    return a[starts], b[starts], np.diff(np.append(starts, a.size)).astype(np.int64)


def _rows(overlaps: list[tuple], contacts: list[tuple]) -> dict:
    """Relation rows from pair counts (count_pairs' results) of each kind, summed per pair."""
    counted = [(c, "overlap") for c in overlaps] + [(c, "contact") for c in contacts]
    ids = np.concatenate([c[0] for c, _ in counted])
    rows = {"ids": ids, "base": np.concatenate([c[1] for c, _ in counted])}
    for kind in ("overlap", "contact"):
        rows[kind] = np.concatenate([c[2] if k == kind else np.zeros_like(c[2]) for c, k in counted])
    return aggregate(ids, rows)


def aggregate(keys: np.ndarray, rows: dict) -> dict:
    """Sum relation rows per (key, base), rows sorted by key then base: `keys` replaces each
    row's id (its root in the merge, its global id in finalize)."""
    keys = np.asarray(keys, dtype=np.uint64)
    if keys.size == 0:
        return empty()
    base = np.asarray(rows["base"], dtype=np.uint64)
    order = np.lexsort((base, keys))
    k, b = keys[order], base[order]
    starts = np.flatnonzero(np.concatenate([[True], (k[1:] != k[:-1]) | (b[1:] != b[:-1])]))
    return {"ids": k[starts], "base": b[starts],
            "overlap": np.add.reduceat(np.asarray(rows["overlap"], np.int64)[order], starts),
            "contact": np.add.reduceat(np.asarray(rows["contact"], np.int64)[order], starts)}


def concat(parts) -> dict:
    parts = [p for p in parts if len(p["ids"])]
    if not parts:
        return empty()
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in _KEYS}


def block_relations(local: np.ndarray, ids_of_local: np.ndarray, mask: np.ndarray, base: np.ndarray,
                    inner: tuple[slice, slice, slice]) -> dict:
    """Relation rows of one block. `local`: its local labels; `ids_of_local`: local label ->
    volume-unique id, 0 for dropped dust and background (block.label_block's table); `mask` and
    `base`: the descriptor's threshold mask and the base labels over the block grown by one voxel
    where the volume goes on (halo_box), `inner` the block inside them.

    Only the segments' voxels are visited, by their coordinates: descriptors are mostly
    background, so this holds a few arrays of the foreground's size rather than boolean blocks
    per direction. Pairs are counted on the local labels and mapped to ids after."""
    at = np.nonzero(local)
    labels = local[at]
    grown = [c + s.start for c, s in zip(at, inner)]           # the voxels in the grown box
    del at
    overlaps = [count_pairs(labels, base[tuple(grown)])]
    contacts = []
    for axis in range(3):
        for step in (-1, 1):
            v = list(grown)
            v[axis] = grown[axis] + step
            inside = (v[axis] >= 0) & (v[axis] < mask.shape[axis])
            v = tuple(c[inside] for c in v)
            v_base = base[v]
            touch = ~mask[v] & (v_base != 0)
            contacts.append(count_pairs(labels[inside][touch], v_base[touch]))
    rows = _rows(overlaps, contacts)
    rows["ids"] = ids_of_local[rows["ids"].astype(np.int64)]
    keep = (rows["ids"] != 0) & (rows["base"] != 0)
    return {k: v[keep] for k, v in rows.items()}


def halo_box(lo, hi, size) -> tuple[list[int], list[int], tuple[slice, slice, slice]]:
    """The block [lo, hi) grown by one voxel where the volume goes on, and the block inside it."""
    glo = [max(a - 1, 0) for a in lo]
    ghi = [min(b + 1, s) for b, s in zip(hi, size)]
    inner = tuple(slice(a - g, b - g) for a, b, g in zip(lo, hi, glo))
    return glo, ghi, inner


def partners(rel: dict, count: int) -> dict:
    """Per segment 1..count (row i for id i + 1): the two base ids of largest contact and the
    contacts, ordered by contact and then by the lower id; 0 where none."""
    out = {k: np.zeros(count, np.uint64 if k.startswith("partner") else np.int64)
           for k in ("partner_a", "contact_a", "partner_b", "contact_b")}
    touching = rel["contact"] > 0
    ids, base, contact = rel["ids"][touching], rel["base"][touching], rel["contact"][touching]
    # Rows sorted by id, then contact descending, then base ascending: each id's first two rows.
    order = np.lexsort((base, -contact, ids))
    ids, base, contact = ids[order], base[order], contact[order]
    first = np.flatnonzero(np.concatenate([[True], ids[1:] != ids[:-1]]))
    rank = np.arange(ids.size) - np.repeat(first, np.diff(np.append(first, ids.size)))
    for r, name in ((0, "a"), (1, "b")):
        at = rank == r
        row = ids[at].astype(np.int64) - 1
        out[f"partner_{name}"][row] = base[at]
        out[f"contact_{name}"][row] = contact[at]
    return out


def duplicates(pairs: dict, centroid_nm: np.ndarray, mergethresh: float) -> np.ndarray:
    """For segments 1..G (row i for id i + 1): the id each is merged into (its own when none),
    the smallest id of its group. Segments are joined when they have the same two non-zero
    partners and their centroids lie within `mergethresh` nm."""
    count = len(centroid_nm)
    a, b = pairs["partner_a"], pairs["partner_b"]
    both = np.flatnonzero((a != 0) & (b != 0))
    low, high = np.minimum(a[both], b[both]), np.maximum(a[both], b[both])
    order = np.lexsort((high, low))
    both, low, high = both[order], low[order], high[order]
    starts = np.flatnonzero(np.concatenate([[True], (low[1:] != low[:-1]) | (high[1:] != high[:-1])]))
    ia, ib = [], []
    # All pairs within a group of the same partners: groups are a handful of segments.
    for members in np.split(both, starts[1:]):
        if members.size < 2:
            continue
        d = np.linalg.norm(centroid_nm[members][:, None] - centroid_nm[members][None], axis=-1)
        i, j = np.nonzero(np.triu(d <= mergethresh, k=1))
        ia.append(members[i])
        ib.append(members[j])
    if not ia:
        return np.arange(1, count + 1, dtype=np.uint64)
    roots = merge.smallest_roots(np.concatenate(ia), np.concatenate(ib), count)
    return roots.astype(np.uint64) + np.uint64(1)


def merge_duplicates(mapping: dict, table: dict, pairs: dict, resolution, voxel_offset,
                     mergethresh: float) -> tuple[dict, dict]:
    """The merge's (mapping, table) after joining duplicates (`duplicates`): ids stay consecutive,
    a group numbered where its smallest member was; its statistics and relations are summed and
    table["components"] says how many segments each row joins (1 for most)."""
    voxels = np.asarray(table["voxels"], np.int64)
    centroid = (table["sums"] / np.maximum(voxels, 1)[:, None] + np.asarray(voxel_offset)) * np.asarray(resolution)
    into = duplicates(pairs, centroid, mergethresh)
    survivor = into == table["ids"]
    renumber = np.zeros(len(into) + 1, np.uint64)          # old id -> new id; 0 stays 0
    renumber[1:] = np.cumsum(survivor)[into.astype(np.int64) - 1]
    new = renumber[1:]
    stats = merge.aggregate_stats(new, table)
    rel = table["relations"]
    merged = {**stats, "relations": aggregate(renumber[rel["ids"].astype(np.int64)], rel),
              "components": np.bincount(new.astype(np.int64), minlength=len(stats["ids"]) + 1)[1:]}
    return {"ids": mapping["ids"], "global": renumber[np.asarray(mapping["global"], np.int64)]}, merged
