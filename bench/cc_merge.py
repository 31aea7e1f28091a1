"""The cc merge with more than a million segments, on synthetic equivalences (not a test):

    .venv/bin/python -m bench.cc_merge [segments]

Segments are spread over 1000 chunks; random edges join segments of neighbouring chunks and a few
long chains cross hundreds of chunks (the worst case for label propagation). It times the stage's
union-find (merge.smallest_roots) against scipy's csgraph connected components, the merge as one
task and as a tree of three, and what the stage's finalize task writes (the mapping, and
segments.csv with the segment properties for every segment).
"""
from __future__ import annotations

import sys
import tempfile
import time

import numpy as np

from emcore.storage import open_storage
from functions.cc.descriptor import Descriptor
from functions.cc.grid import ID_STRIDE
from functions.cc.merge import combine, finalize, merge_partial, roots_of
from functions.cc.outputs import write_tables
from functions.cc.store import put_mapping


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


def scipy_roots(a, b, extra):
    """The same roots from scipy's csgraph connected components (the reference)."""
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import connected_components
    nodes, inverse = np.unique(np.concatenate([a, b, extra]), return_inverse=True)
    ia, ib = inverse[:a.size], inverse[a.size:a.size + b.size]
    graph = csr_array((np.ones(ia.size), (ia, ib)), shape=(nodes.size, nodes.size))
    _, comp = connected_components(graph, directed=True, connection="weak")
    _, first = np.unique(comp, return_index=True)
    return nodes[first[comp]]


def timed(rows: list, name: str, f, *args):
    t = time.perf_counter()
    out = f(*args)
    rows.append((name, time.perf_counter() - t))
    return out


def run(segments: int = 1_500_000) -> tuple[str, list[tuple[str, float]]]:
    """(description, [(step, seconds)])."""
    stats, edges = synthetic(segments)
    rows: list[tuple[str, float]] = []
    import scipy.sparse.csgraph  # noqa: F401  (imported before timing: the reference's import is not its work)
    nodes, roots, _ = timed(rows, "union-find (numpy hook and jump, the stage's)", roots_of,
                            edges[:, 0], edges[:, 1], stats["ids"])
    reference = timed(rows, "union-find (scipy csgraph connected components, reference)", scipy_roots,
                      edges[:, 0], edges[:, 1], stats["ids"])
    assert np.array_equal(reference, roots), "the two union-finds disagree"
    partial = timed(rows, "merge_partial, one task", merge_partial, [stats], edges)
    mapping, table = timed(rows, "finalize, one partial", finalize, [partial], 500)
    thirds = np.array_split(np.arange(stats["ids"].size), 3)
    parts = [merge_partial([{k: v[t] for k, v in stats.items()}], e)
             for t, e in zip(thirds, np.array_split(edges, 3))]
    timed(rows, "combine of 3 partials", combine, parts)
    timed(rows, "finalize, 3 partials (tree root)", finalize, parts, 500)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_storage(tmp)
        timed(rows, "write the mapping (ranged-read layout)", put_mapping, store, mapping, 1000)
        where = Descriptor("file:///none/", 0, "uint8", [1000] * 3, [8.0, 8.0, 8.0], [0, 0, 0])
        timed(rows, f"segments.csv + segment properties ({len(table['ids'])} rows)",
              write_tables, store, table, where)
    return (f"{stats['ids'].size} segments, {len(edges)} equivalence edges, "
            f"{len(table['ids'])} merged segments"), rows


def main(segments: int = 1_500_000) -> None:
    title, rows = run(segments)
    print(title)
    for name, seconds in rows:
        print(f"  {name:<60s} {seconds:7.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_500_000)
