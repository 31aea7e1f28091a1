"""Timing of the cc merge on synthetic equivalences (not a test):

    .venv/bin/python -m functions.cc.bench_merge [segments]

Segments are spread over 1000 chunks; random edges join segments of neighbouring chunks and a few
long chains cross hundreds of chunks (the worst case for label propagation). It also times a
vectorised numpy min-label propagation, the alternative to scipy's connected components.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from functions.cc.grid import ID_STRIDE
from functions.cc.merge import combine, finalize, merge_partial, roots_of


def synthetic(segments: int, chunks: int = 1000, seed: int = 0):
    rng = np.random.default_rng(seed)
    per = segments // chunks
    chunk = np.repeat(np.arange(chunks, dtype=np.uint64), per)
    ids = chunk * np.uint64(ID_STRIDE) + np.tile(np.arange(1, per + 1, dtype=np.uint64), chunks)
    a = rng.integers(0, ids.size - 2 * per, segments * 2 // 3)
    b = a + per + rng.integers(-per // 2, per // 2, a.size)        # a segment of the next chunk
    chain = np.arange(0, ids.size - per, per)[:, None] + np.arange(5)  # 5 chains across all chunks
    a = np.concatenate([a, chain.ravel()])
    b = np.concatenate([b, chain.ravel() + per])
    stats = {"ids": ids, "voxels": rng.integers(1, 1000, ids.size),
             "bbox": np.tile(np.array([0, 0, 0, 1, 1, 1]), (ids.size, 1)),
             "sums": rng.integers(0, 10**6, (ids.size, 3))}
    return stats, np.stack([ids[a], ids[b]], axis=1)


def propagate(a, b, extra):
    """Min-label propagation with pointer jumping, in numpy (for comparison only)."""
    nodes, inverse = np.unique(np.concatenate([a, b, extra]), return_inverse=True)
    ia, ib = inverse[:a.size], inverse[a.size:a.size + b.size]
    label = np.arange(nodes.size)
    rounds = 0
    while True:
        rounds += 1
        low = np.minimum(label[ia], label[ib])
        new = label.copy()
        np.minimum.at(new, ia, low)
        np.minimum.at(new, ib, low)
        new = new[new]
        if np.array_equal(new, label):
            return nodes, nodes[label], rounds
        label = new


def timed(name, f, *args):
    t = time.perf_counter()
    out = f(*args)
    print(f"{name:<44s} {time.perf_counter() - t:7.2f} s")
    return out


def main(segments: int = 1_500_000):
    stats, edges = synthetic(segments)
    print(f"{stats['ids'].size} segments, {len(edges)} equivalence edges")
    nodes, roots, _ = timed("roots_of (scipy connected_components)", roots_of,
                         edges[:, 0], edges[:, 1], stats["ids"])
    pn, pr, rounds = timed("numpy min-label propagation", propagate,
                           edges[:, 0], edges[:, 1], stats["ids"])
    assert np.array_equal(pr, roots), "the two union-finds disagree"
    print(f"  (propagation needed {rounds} rounds)")
    partial = timed("merge_partial, one task", merge_partial, [stats], edges)
    timed("finalize, one partial", finalize, [partial], 500)
    thirds = np.array_split(np.arange(stats["ids"].size), 3)
    parts = [merge_partial([{k: v[t] for k, v in stats.items()}], e)
             for t, e in zip(thirds, np.array_split(edges, 3))]
    timed("combine of 3 partials", combine, parts)
    t = time.perf_counter()
    finalize(parts, 500)
    print(f"{'finalize, 3 partials (tree root)':<44s} {time.perf_counter() - t:7.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_500_000)
