"""The mesh stage's pure parts against independent references: the hash against CloudVolume's,
shard files against TensorStore's sharded reader, chunked marching cubes against meshing the
whole volume at once, simplification against a distance measured here, the spec's partition
rule for coarse levels, and the distance check's samples against a direct construction."""
from __future__ import annotations

import numpy as np
import pytest
import zmesh

from emtest.mesh_data import cells
from emcore import shards
from emcore.murmur import hash64
from functions.mesh import geometry, multilod, simplify, surface
from emtest.mesh import edge_face_counts, hausdorff


def test_murmurhash_matches_cloudvolume():
    from cloudvolume.datasource.precomputed import mmh3
    ids = np.concatenate([np.array([0, 1, 255, 2 ** 32 - 1, 2 ** 32, 2 ** 64 - 1], np.uint64),
                          np.random.default_rng(0).integers(0, 2 ** 63, 200, dtype=np.uint64)])
    expected = [mmh3.hash64(np.uint64(i).tobytes(), x64arch=False)[0] & (2 ** 64 - 1) for i in ids]
    assert hash64(ids).tolist() == expected


@pytest.mark.parametrize("encoding", ["raw", "gzip"])
def test_shard_files_read_back_with_tensorstore(tmp_path, encoding):
    import tensorstore as ts
    rng = np.random.default_rng(1)
    ids = rng.choice(2 ** 40, 300, replace=False).astype(np.uint64)
    spec = dict(shards.choose_sharding(len(ids), 0), minishard_bits=3, shard_bits=2,
                minishard_index_encoding=encoding, data_encoding=encoding)
    values = {int(i): rng.bytes(int(rng.integers(0, 200))) for i in ids}
    shard_of, _ = shards.locate(ids, spec)
    for shard in range(4):
        entries = [(int(i), b"prefix", values[int(i)]) for i in ids[shard_of == shard]]
        (tmp_path / shards.shard_key(shard, spec)).write_bytes(shards.build_shard(entries, spec))
    kv = ts.KvStore.open({"driver": "neuroglancer_uint64_sharded", "base": f"file://{tmp_path}/",
                          "metadata": spec}).result()
    for i in ids:
        assert kv.read(int(i).to_bytes(8, "big")).result().value == values[int(i)]
    assert kv.read((2 ** 41).to_bytes(8, "big")).result().state == "missing"


def test_sharding_grows_with_the_objects():
    small, large = shards.choose_sharding(10, 10 ** 5), shards.choose_sharding(100_000, 10 ** 9)
    assert small["shard_bits"] == 0 and large["shard_bits"] >= 7
    assert large["minishard_bits"] >= 1


def chunked_pieces(volume, chunk):
    out = {}
    for position in geometry.chunks(volume.shape, chunk):
        lo, hi = geometry.read_box(position, volume.shape, chunk)
        rlo, rhi, pad = geometry.padded_read(lo, hi, volume.shape)
        data = np.pad(volume[tuple(slice(a, b) for a, b in zip(rlo, rhi))], pad)
        for oid, pieces in surface.mesh_chunk(data, lo, chunk).items():
            out.setdefault(oid, []).extend(pieces)
    return out


def triangle_set(half, faces):
    tri = half[faces].astype(np.int64)                       # [m, 3, 3]
    keys = tri[:, :, 0] << 42 | tri[:, :, 1] << 21 | tri[:, :, 2]
    return set(map(tuple, np.sort(keys, axis=1).tolist()))


def test_chunks_with_one_voxel_of_overlap_tile_the_whole_surface():
    volume = cells((70, 64, 45), n=15, seed=5)
    chunk = (16, 32, 15)   # 32 divides 64: the last y layer's caps fall in an extra node
    pieces = chunked_pieces(volume, chunk)
    whole = zmesh.Mesher((1, 1, 1))
    whole.mesh(np.pad(volume, 1), close=False)
    for oid in whole.ids():
        reference = whole.get(oid, normals=False, reduction_factor=0)
        ref_half = geometry.half_voxels(reference.vertices, (-1, -1, -1))
        ps = pieces[int(oid)]
        mine = set().union(*(triangle_set(p.half, p.faces) for p in ps))
        assert mine == triangle_set(ref_half, reference.faces.astype(np.int64)), oid
        assert sum(len(p.faces) for p in ps) == len(reference.faces)
        for p in ps:     # every triangle lies in its piece's node
            lo = 2 * np.array(p.node) * chunk - 1
            assert (p.half >= lo).all() and (p.half <= lo + 2 * np.array(chunk)).all()


def test_simplification_keeps_borders_bound_and_manifold():
    volume = cells((48, 48, 48), n=6, seed=7)
    resolution = np.array([8.0, 8.0, 20.0])
    pieces = [p for ps in chunked_pieces(volume, (24, 24, 24)).values() for p in ps]
    reduced = 0
    for p in pieces:
        points = (p.half * 0.5 * resolution).astype(np.float32)
        faces, estimate, _ = simplify.simplify(points, p.faces, 40.0, 8.0)
        border = simplify.border_ring(p.faces, len(points)).astype(bool)
        assert set(np.flatnonzero(border)) <= set(np.unique(faces))   # locked vertices all kept
        assert (edge_face_counts(faces) <= 2).all()
        if len(faces) < len(p.faces):
            reduced += 1
            assert estimate <= 40.0
            assert hausdorff((points.astype(np.float64), p.faces.astype(np.int64)),
                             (points.astype(np.float64), faces.astype(np.int64)), 3.0) <= 40.0 + 3.0
    assert reduced > len(pieces) // 2


def test_coarse_levels_respect_the_octant_partition():
    volume = cells((64, 64, 64), n=5, seed=2)
    chunk = (16, 16, 16)
    resolution = (8, 8, 8)
    for oid, ps in list(chunked_pieces(volume, chunk).items())[:3]:
        pieces = {0: {p.node: (p.half, p.faces) for p in ps}}
        pieces[1] = {node: multilod.compact(h, multilod.simplify_piece(h, f, 40, resolution, chunk, 0, True)[0]) for node, (h, f) in pieces[0].items()}
        pieces = multilod.coarser_levels(pieces, 4, 40.0, resolution, chunk)
        for lod in range(1, 4):
            for cell, (half, faces) in pieces[lod].items():
                # Level `lod` pieces live in cells of level lod-1: the octants of their node.
                span = 2 * np.array(chunk) * (1 << (lod - 1))
                lo = np.array(cell) * span - 1
                assert (half >= lo).all() and (half <= lo + span).all(), (oid, lod, cell)


def test_triangle_samples_are_the_barycentric_lattice(monkeypatch):
    """The check's samples (bound.sample_triangles) against a direct construction: triangle by
    triangle, the points (i/k, j/k) of its lattice other than the corners, k = ceil(longest edge /
    spacing). Short, table-sized and longer-than-the-table triangles, in batches smaller than one
    triangle's lattice too."""
    from scipy.spatial import cKDTree

    from functions.mesh import bound
    rng = np.random.default_rng(5)
    points = (rng.random((30, 3)) * [40, 40, 1800]).astype(np.float32)    # k from 1 to ~90 at 20 nm
    faces = rng.integers(0, 30, (40, 3))
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    spacing = 20.0
    want, owner_want, steps = [], [], []
    for t, (a, b, c) in enumerate(points[faces].astype(np.float64)):
        k = max(1, int(np.ceil(max(np.linalg.norm(b - a), np.linalg.norm(c - b), np.linalg.norm(a - c)) / spacing)))
        steps.append(k)
        for i in range(k + 1):
            for j in range(k + 1 - i):
                if (i, j) not in ((0, 0), (k, 0), (0, k)):
                    want.append(a + i / k * (b - a) + j / k * (c - a))
                    owner_want.append(t)
    want, owner_want = np.array(want), np.array(owner_want)
    assert min(steps) <= bound.LATTICES_MAX < max(steps)        # both paths are exercised
    for batch in (bound.BATCH, 7):
        monkeypatch.setattr(bound, "BATCH", batch)
        longest = bound.longest_edges(points, faces)
        got, owner = bound.sample_triangles(points, faces, longest, spacing, owners=True)
        assert got.dtype == np.float32 and np.array_equal(bound.sample_triangles(points, faces, longest, spacing), got)
        assert np.array_equal(np.bincount(owner, minlength=len(faces)), np.bincount(owner_want, minlength=len(faces)))
        for t in np.unique(owner_want):     # the same points per triangle, to float32 rounding
            mine, theirs = got[owner == t].astype(np.float64), want[owner_want == t]
            assert cKDTree(theirs).query(mine)[0].max() < 1e-2 and cKDTree(mine).query(theirs)[0].max() < 1e-2, t
