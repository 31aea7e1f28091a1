"""Oracle tests for the cc stage's science: block -> merge -> remap must equal cc3d on the whole
volume (same connectivity, same size filter), up to relabelling, with identical statistics."""
from __future__ import annotations


import cc3d
import numpy as np
import pytest

from emtest.cc import SHAPE, make_volume, oracle_stats
from functions.cc import codec
from functions.cc.block import label_block
from functions.cc.grid import (block_box, block_count, blocks_to_read, grid_shape,
                               merge_groups)
from functions.cc.merge import combine, finalize, merge_task, smallest_roots
from functions.cc.remap import block_mapping, remap_block, segment_rows, segments_csv
from functions.cc.seams import seam_edges
from functions.cc.stats import FOREGROUND_LIMIT, statistics


def run_blocked(vol, block, connectivity, ccthresh, dustthresh, szthresh, tasks):
    """The stage's waves, with every intermediate passed through the codec as storage would."""
    g = grid_shape(vol.shape, block)
    labels, summaries = {}, {}
    for c in range(block_count(g)):
        off, shp = block_box(c, g, block, vol.shape)
        box = tuple(slice(o, o + s) for o, s in zip(off, shp))
        labels[c], summary = label_block(vol[box], off, c, ccthresh=ccthresh,
                                         connectivity=connectivity, dustthresh=dustthresh)
        summaries[c] = codec.decode(codec.encode(summary))
    nummergetasks = 3 if tasks == "tree" else tasks
    partials = []
    for group in merge_groups(g, nummergetasks):
        own, foreign = blocks_to_read(group, g)
        partial = merge_task(own, {c: summaries[c]["stats"] for c in own},
                             {c: summaries[c]["faces"] for c in own + foreign}, g, connectivity)
        partials.append(codec.decode(codec.encode(partial)))
    if tasks == "tree":                                   # one more level before the root
        partials = [combine(partials[:2]), partials[2]]
    mapping, table = finalize(partials, szthresh, dustthresh)
    out = np.zeros(vol.shape, dtype=np.uint64)
    for c in range(block_count(g)):
        off, shp = block_box(c, g, block, vol.shape)
        box = tuple(slice(o, o + s) for o, s in zip(off, shp))
        out[box] = remap_block(labels[c], block_mapping(mapping, c))
    return out, mapping, table


def check_against_oracle(vol, out, table, connectivity, ccthresh, threshold):
    ref = cc3d.connected_components(vol > ccthresh, connectivity=connectivity)
    ref = cc3d.dust(ref, threshold=threshold, connectivity=connectivity, in_place=False)
    fg = ref > 0
    assert np.array_equal(fg, out > 0)
    pairs = np.unique(np.stack([ref[fg], out[fg]], axis=1), axis=0)
    n = len(np.unique(ref[fg]))
    assert len(pairs) == n == len(np.unique(out[fg])) == len(table["ids"]), "not a bijection"
    assert np.array_equal(np.unique(out[fg]), table["ids"])   # consecutive from 1
    ref_of = dict(zip(pairs[:, 1].tolist(), pairs[:, 0].tolist()))
    expected = oracle_stats(ref)
    for i, voxels, sums, bbox in zip(table["ids"].tolist(), table["voxels"].tolist(),
                                     table["sums"].tolist(), table["bbox"].tolist()):
        assert (voxels, sums, bbox) == expected[ref_of[i]]
    return n


CASES = [  # block, dustthresh, szthresh
    ((32, 32, 24), 3, 8),       # 80 is not a multiple of 32 either
    ((20, 28, 17), 9, 4),       # divides no axis; dustthresh above szthresh
    ((19, 79, 71), 5, 5),       # the last block on every axis is one voxel thick
]


@pytest.mark.parametrize("connectivity", [6, 18, 26])
@pytest.mark.parametrize("block,dustthresh,szthresh", CASES)
def test_blocked_equals_whole_volume(connectivity, block, dustthresh, szthresh):
    vol = make_volume(block, seed=connectivity)
    results = {}
    for tasks in (1, 3, "tree"):
        out, mapping, table = run_blocked(vol, block, connectivity, 0.5, dustthresh,
                                          szthresh, tasks)
        n = check_against_oracle(vol, out, table, connectivity, 0.5, max(dustthresh, szthresh))
        assert n > 50
        results[tasks] = (out, codec.encode(mapping), codec.encode(table))
    # Same ids and same bytes whatever the shape of the merge tree.
    for tasks in (3, "tree"):
        assert np.array_equal(results[1][0], results[tasks][0])
        assert results[1][1:] == results[tasks][1:]


@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_empty_and_full_volumes(fill):
    vol = np.full(SHAPE, fill, np.float32)
    out, mapping, table = run_blocked(vol, (32, 32, 24), 26, 0.5, 10, 10, 3)
    assert len(table["ids"]) == int(fill) and np.array_equal(out, vol.astype(np.uint64))
    if fill:
        assert table["voxels"].tolist() == [vol.size]
        assert table["bbox"].tolist() == [[0, 0, 0, *SHAPE]]


@pytest.mark.parametrize("dtype,ccthresh", [(np.uint8, 127), (np.uint16, 30000)])
def test_integer_descriptors(dtype, ccthresh):
    block = (32, 32, 24)
    scale = 255 if dtype == np.uint8 else 60000
    vol = (make_volume(block, seed=7) * scale).astype(dtype)
    out, _, table = run_blocked(vol, block, 26, ccthresh, 4, 4, 3)
    check_against_oracle(vol, out, table, 26, ccthresh, 4)


def _two_block_faces(points, connectivity):
    """Label a 4x4x4 volume with one voxel at each point, as eight 2x2x2 blocks."""
    vol = np.zeros((4, 4, 4), np.uint8)
    for p in points:
        vol[p] = 1
    g = grid_shape(vol.shape, (2, 2, 2))
    faces = {}
    for c in range(8):
        off, shp = block_box(c, g, (2, 2, 2), vol.shape)
        box = tuple(slice(o, o + s) for o, s in zip(off, shp))
        faces[c] = label_block(vol[box], off, c, ccthresh=0, connectivity=connectivity)[1]["faces"]
    return faces


@pytest.mark.parametrize("connectivity,joined", [(6, False), (18, False), (26, True)])
def test_corner_contact(connectivity, joined):
    faces = _two_block_faces([(1, 1, 1), (2, 2, 2)], connectivity)
    assert len(seam_edges(faces[0], faces[7], (1, 1, 1), connectivity)) == joined


@pytest.mark.parametrize("connectivity,joined", [(6, False), (18, True), (26, True)])
def test_edge_contact(connectivity, joined):
    faces = _two_block_faces([(1, 1, 0), (2, 2, 0)], connectivity)
    assert len(seam_edges(faces[0], faces[3], (1, 1, 0), connectivity)) == joined
    faces = _two_block_faces([(2, 1, 0), (1, 2, 0)], connectivity)    # the other diagonal
    assert len(seam_edges(faces[1], faces[2], (-1, 1, 0), connectivity)) == joined


def test_dust_spares_pieces_on_faces():
    block = np.zeros((8, 8, 8), np.float32)
    block[3, 3, 3] = 1       # enclosed speck: dust
    block[0, 4, 4] = 1       # speck on a face: may continue in the neighbour
    labels, summary = label_block(block, (8, 0, 0), 5, ccthresh=0.5, connectivity=26,
                                  dustthresh=2)
    kept = (5 << 32) + int(labels[0, 4, 4])
    assert summary["stats"]["ids"].tolist() == [kept] and summary["faces"]["x0"][4, 4] == kept
    # The speck has no id: the mapping will not list it, so remap writes it as background.
    assert labels[3, 3, 3] != 0 and remap_block(labels, {"ids": [kept], "global": [1]})[3, 3, 3] == 0
    assert summary["stats"]["bbox"].tolist() == [[8, 4, 4, 9, 5, 5]]
    assert summary["stats"]["sums"].tolist() == [[8, 4, 4]]


@pytest.mark.parametrize("density", [0.02, 0.4])      # below and above FOREGROUND_LIMIT
@pytest.mark.parametrize("order", ["C", "F"])
def test_statistics_equal_numpy(density, order):
    """Both ways of counting (foreground voxels only, or cc3d's pass over all) give the oracle's
    integers, whatever the memory order."""
    rng = np.random.default_rng(3)
    mask = np.asarray(rng.random((37, 29, 23)) < density, order=order)
    assert (mask.mean() > FOREGROUND_LIMIT) == (density > FOREGROUND_LIMIT)
    labels, n = cc3d.connected_components(mask, connectivity=6, return_N=True, out_dtype=np.uint32)
    stats = statistics(labels, mask, n)
    expected = oracle_stats(labels)
    assert sorted(expected) == list(range(1, n + 1))
    for i, (voxels, sums, bbox) in expected.items():
        got = (int(stats["voxels"][i]), stats["sums"][i].tolist(),
               stats["lo"][i].tolist() + (stats["hi"][i] + 1).tolist())
        assert got == (voxels, sums, bbox)


@pytest.mark.parametrize("nodes,edges", [(1, 0), (50, 30), (2000, 1500), (2000, 4000)])
def test_union_find_equals_scipy(nodes, edges):
    """The merge's union-find gives each node its component's smallest node, as scipy's does."""
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import connected_components
    rng = np.random.default_rng(edges)
    ia, ib = rng.integers(0, nodes, edges), rng.integers(0, nodes, edges)
    chain = np.arange(nodes - 1)[::-1]          # plus a chain through every tenth node, reversed
    ia, ib = np.concatenate([ia, chain[::10]]), np.concatenate([ib, chain[::10] + 1])
    _, comp = connected_components(csr_array((np.ones(ia.size), (ia, ib)), shape=(nodes, nodes)),
                                   directed=True, connection="weak")
    _, first = np.unique(comp, return_index=True)
    assert np.array_equal(smallest_roots(ia, ib, nodes), first[comp])


def test_rows_and_csv():
    table = {"ids": np.array([1, 2], np.uint64), "voxels": np.array([2, 1]),
             "sums": np.array([[1, 2, 4], [5, 5, 5]]), "bbox": np.array([[0, 1, 2, 2, 2, 3],
                                                                         [5, 5, 5, 6, 6, 6]])}
    rows = segment_rows(table, resolution=(4, 4, 40), voxel_offset=(10, 0, 0))
    assert rows[0] == {"id": 1, "voxels": 2, "centroid": [10.5, 1.0, 2.0],
                       "centroid_phys": [42.0, 4.0, 80.0], "bbox": [10, 1, 2, 12, 2, 3]}
    assert segments_csv(rows).splitlines()[2] == "2,1,15.0,5.0,5.0,60.0,20.0,200.0,15,5,5,16,6,6"


def test_codec_is_deterministic():
    _, summary = label_block(make_volume((32, 32, 24))[:32, :32, :24], (0, 0, 0), 0,
                             ccthresh=0.5, connectivity=18)
    blob = codec.encode(summary)
    assert blob == codec.encode(codec.decode(blob))
    back = codec.decode(blob)
    assert back["faces"]["z1"].dtype == np.uint64 and back["offset"] == [0, 0, 0]
