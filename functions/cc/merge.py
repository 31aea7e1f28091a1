"""Merge waves of the cc stage: join block segments into volume segments.

The merge is a reduction over "partials", so it runs as a tree of tasks of any depth:

  merge_task(own blocks)      -> partial     first level: seams of its blocks + their statistics
  combine([partial, ...])     -> partial     any inner level (associative, order-independent)
  finalize([partial, ...], szthresh) -> (mapping, table)    the root

A partial is {"ids": (M,) uint64, "roots": (M,) uint64, "stats": {ids, voxels, bbox, sums}}: every
id that is joined to another id maps to its root (the smallest id of its group so far), and the
statistics of the task's own blocks are summed per root (a lone segment is its own root). Ids that
were never joined are listed only in the statistics. Nothing is lost by the reduction, so finalize
sees every id and numbers the groups by their smallest member: the same ids whatever the tree.

With a base segmentation the statistics also hold "relations" (relations.py): rows (id, base id,
overlap, contact), summed per (root, base id) the same way.
"""
from __future__ import annotations

import numpy as np

from functions.cc import relations
from functions.cc.seams import task_edges

_STAT_KEYS = ("ids", "voxels", "bbox", "sums")


def empty_stats() -> dict:
    return {"ids": np.zeros(0, np.uint64), "voxels": np.zeros(0, np.int64),
            "bbox": np.zeros((0, 6), np.int64), "sums": np.zeros((0, 3), np.int64)}


def _concat_stats(stats_list) -> dict:
    rel = relations.concat([s.get("relations", relations.empty()) for s in stats_list])
    stats_list = [s for s in stats_list if len(s["ids"])]
    if not stats_list:
        return {**empty_stats(), "relations": rel}
    return {**{k: np.concatenate([np.asarray(s[k]) for s in stats_list]) for k in _STAT_KEYS}, "relations": rel}


def roots_of(a: np.ndarray, b: np.ndarray, extra: np.ndarray):
    """(nodes, roots, at): every id in a, b or extra (sorted, unique), the smallest id connected to
    it by the edges (a[i], b[i]), and where each of `extra` sits in `nodes`."""
    ids = np.concatenate([a, b, extra]).astype(np.uint64, copy=False)
    # With return_inverse np.unique sorts; without, numpy 2.4 hashes uint64, 20x slower here.
    nodes, inverse = np.unique(ids, return_inverse=True)
    ia, ib, at = np.split(inverse, [a.size, a.size + b.size])
    if a.size == 0:
        return nodes, nodes.copy(), at
    return nodes, nodes[smallest_roots(ia, ib, nodes.size)], at


def smallest_roots(ia: np.ndarray, ib: np.ndarray, n: int) -> np.ndarray:
    """For nodes 0..n-1 joined by edges (ia[i], ib[i]): the smallest node of each one's component.

    Union-find in whole-array steps: each round hooks every edge's larger root under its smaller
    one (a root hooked by several edges takes the smallest), then jumps pointers until every node
    points at a root. A node only ever points at a smaller one, so a component's smallest node
    stays a root and, once no edge joins two roots, is the only one. A chain across the whole
    volume collapses in one round; 1.5 million segments take 0.25 s (bench/cc_merge.py), less
    than scipy's csgraph, whose import alone cost a merge task 0.4 s."""
    label = np.arange(n)
    while True:
        la, lb = label[ia], label[ib]
        differ = la != lb
        if not differ.any():
            return label
        la, lb = la[differ], lb[differ]
        np.minimum.at(label, np.maximum(la, lb), np.minimum(la, lb))
        while True:
            jumped = label[label]
            if np.array_equal(jumped, label):
                break
            label = jumped


def aggregate_stats(keys: np.ndarray, stats: dict) -> dict:
    """Sum statistics rows that share a key (exact integer arithmetic); rows sorted by key."""
    if keys.size == 0:
        return empty_stats()
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    starts = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]]))
    bbox = np.asarray(stats["bbox"])[order]
    return {
        "ids": k[starts],
        "voxels": np.add.reduceat(np.asarray(stats["voxels"])[order], starts),
        "bbox": np.concatenate([np.minimum.reduceat(bbox[:, :3], starts, axis=0),
                                np.maximum.reduceat(bbox[:, 3:], starts, axis=0)], axis=1),
        "sums": np.add.reduceat(np.asarray(stats["sums"])[order], starts, axis=0),
    }


def merge_partial(stats_list, edges: np.ndarray) -> dict:
    """A partial from the statistics of some blocks and equivalence edges (E, 2) between ids."""
    stats = _concat_stats(stats_list)
    edges = np.asarray(edges, dtype=np.uint64).reshape(-1, 2)
    nodes, roots, at = roots_of(edges[:, 0], edges[:, 1], stats["ids"])
    joined = roots != nodes
    rel = stats["relations"]
    # Every relation row's id has statistics, so it is one of `nodes`.
    rel = relations.aggregate(roots[np.searchsorted(nodes, rel["ids"])], rel)
    return {"ids": nodes[joined], "roots": roots[joined], "stats": {**aggregate_stats(roots[at], stats), "relations": rel}}


def merge_task(blocks, stats_by_block: dict, faces_by_block: dict, grid, connectivity: int) -> dict:
    """First-level merge task: `blocks` are the block indices it owns (grid.merge_groups);
    `stats_by_block` has their summary["stats"], `faces_by_block` the summary["faces"] of them
    and of their later neighbours (grid.blocks_to_read)."""
    edges = task_edges(blocks, faces_by_block, grid, connectivity)
    return merge_partial([stats_by_block[c] for c in blocks], edges)


def combine(partials) -> dict:
    """Merge partials of disjoint sets of blocks into one partial."""
    partials = list(partials)
    ids = np.concatenate([np.zeros(0, np.uint64)] + [np.asarray(p["ids"]) for p in partials])
    roots = np.concatenate([np.zeros(0, np.uint64)] + [np.asarray(p["roots"]) for p in partials])
    return merge_partial([p["stats"] for p in partials], np.stack([ids, roots], axis=1))


def finalize(partials, szthresh: int = 0, dustthresh: int = 0) -> tuple[dict, dict]:
    """Global ids for the partials of all blocks.

    Segments with fewer voxels than max(szthresh, dustthresh) map to 0: the blocks already dropped
    enclosed pieces below dustthresh, so applying it here too makes the result independent of the
    blocking (what whole-volume labelling followed by cc3d.dust gives).

    Returns (mapping, table): mapping = {"ids": (M,) uint64 sorted, "global": (M,) uint64} covers
    every id in every block's labels; table = {"ids": 1..G uint64, "voxels", "bbox", "sums"} with
    row i for global id i + 1, and "relations" rows by global id. Global ids are consecutive,
    ordered by each segment's smallest id.
    """
    partials = list(partials)
    whole = partials[0] if len(partials) == 1 else combine(partials)
    stats = whole["stats"]
    # A partial is already reduced: each joined id points straight at its root.
    joined = np.asarray(whole["ids"], dtype=np.uint64)
    nodes, inverse = np.unique(np.concatenate([joined, stats["ids"]]), return_inverse=True)
    roots = nodes.copy()
    roots[inverse[:joined.size]] = whole["roots"]
    group, row = np.unique(roots, return_inverse=True)
    if not np.array_equal(group, stats["ids"]):
        raise ValueError("merge input is incomplete: some joined segments have no statistics "
                         "(a block's stats are missing from every partial)")
    threshold = max(int(szthresh), int(dustthresh))
    keep = stats["voxels"] >= threshold
    global_of_row = np.where(keep, np.cumsum(keep), 0).astype(np.uint64)
    mapping = {"ids": nodes, "global": global_of_row[row]}
    rel = stats["relations"]
    rel_global = global_of_row[np.searchsorted(stats["ids"], rel["ids"])]
    kept = rel_global != 0
    table = {"ids": np.arange(1, int(keep.sum()) + 1, dtype=np.uint64),
             "voxels": stats["voxels"][keep], "bbox": stats["bbox"][keep],
             "sums": stats["sums"][keep],
             "relations": relations.aggregate(rel_global[kept], {k: v[kept] for k, v in rel.items()})}
    return mapping, table
