"""Relations of the cc stage's segments to a base segmentation (`baseseg`, functions/cc/relations.py),
end to end through the local backend:

* overlaps and contacts equal a numpy computation on the whole volume in one piece (the rule of
  relations.py, applied without blocks), exactly, with objects crossing every kind of block face;
* partners and the duplicate merge on a synthetic case built so that the answer is known;
* the same on the real ISBI stack (synapse masks, and the connected components of its
  non-membrane pixels as the base), against the whole-volume oracle;
* bad input refused before anything runs, naming the field.
"""
from __future__ import annotations

import csv
import json

import cc3d
import numpy as np
import pytest
import tensorstore as ts
from cloudvolume import CloudVolume

from emcore import jobroot
from emcore.job import load_job
from emcore.schema import ConfigError
from emcore.stage import TaskError
from emtest import inprocess, realdata
from emtest.cc import OFFSET, RESOLUTION, make_volume, run_job, write_descriptor
from functions.cc.layout import BlockTask
from functions.cc.merge import smallest_roots
from functions.cc.stage import STAGE

BLOCK = [32, 32, 32]


def write_segmentation(url: str, labels: np.ndarray, chunk=(20, 24, 16), resolution=RESOLUTION,
                       offset=OFFSET, layer_type="segmentation") -> None:
    """A precomputed volume written by TensorStore, chunked unlike the cc grid."""
    encoding = "compressed_segmentation" if layer_type == "segmentation" else "raw"
    scale = {"size": list(labels.shape), "resolution": list(resolution), "voxel_offset": list(offset),
             "chunk_size": list(chunk), "encoding": encoding}
    if encoding == "compressed_segmentation":
        scale["compressed_segmentation_block_size"] = [8, 8, 8]
    spec = {"driver": "neuroglancer_precomputed", "kvstore": url,
            "multiscale_metadata": {"type": layer_type, "data_type": labels.dtype.name, "num_channels": 1},
            "scale_metadata": scale}
    store = ts.open(spec, create=True, delete_existing=True).result()
    store[tuple(slice(o, o + n) for o, n in zip(offset, labels.shape)) + (0,)].write(labels).result()


def cc_job(dest, descriptor_url, **options):
    cc = {"descriptor": descriptor_url, "ccthresh": 0.5, "connectivity": 26, "dustthresh": 3,
          "szthresh": 8, "block": BLOCK, "chunk": [16, 16, 16], "nummergetasks": 3}
    return load_job({"id": "cc", "dest": str(dest), "stages": {"cc": {**cc, **options}}})


def read_segmentation(store) -> np.ndarray:
    cv = CloudVolume(store.url + "segmentation", mip=0, progress=False, fill_missing=True)
    return cv[cv.bounds][..., 0]


def read_table(store) -> list[dict]:
    with open(store.url[len("file://"):] + "segments.csv") as f:
        return list(csv.DictReader(f))


def oracle_relations(out: np.ndarray, mask: np.ndarray, base: np.ndarray) -> dict:
    """{segment: {base id: [overlap voxels, contact faces]}} on the whole volume: overlap counts
    the segment's voxels on each base id; contact counts face-neighbour pairs (u in the segment,
    v below the threshold) by v's base id; base id 0 is left out of both."""
    result: dict = {}

    def add(seg, b, which):
        pairs, counts = np.unique(np.stack([seg, b], axis=1), axis=0, return_counts=True)
        for (s, bb), n in zip(pairs.tolist(), counts.tolist()):
            result.setdefault(s, {}).setdefault(bb, [0, 0])[which] += n

    fg = (out > 0) & (base > 0)
    add(out[fg], base[fg], 0)
    for axis in range(3):
        n = out.shape[axis]
        for u_sl, v_sl in ((slice(0, n - 1), slice(1, n)), (slice(1, n), slice(0, n - 1))):
            u = [slice(None)] * 3
            v = [slice(None)] * 3
            u[axis], v[axis] = u_sl, v_sl
            su, mv, bv = out[tuple(u)], mask[tuple(v)], base[tuple(v)]
            touch = (su > 0) & ~mv & (bv > 0)
            add(su[touch], bv[touch], 1)
    return result


def oracle_partners(relations: dict) -> tuple[int, int, int, int]:
    """The two base ids of largest contact, ties to the lower id, with their contacts (0s if none)."""
    ranked = sorted(((-c, b) for b, (_, c) in relations.items() if c > 0))[:2]
    ranked += [(0, 0)] * (2 - len(ranked))
    return ranked[0][1], -ranked[0][0], ranked[1][1], -ranked[1][0]


def check_table(rows: list[dict], out: np.ndarray, mask: np.ndarray, base: np.ndarray) -> dict:
    expected = oracle_relations(out, mask, base)
    assert [int(r["id"]) for r in rows] == sorted(np.unique(out[out > 0]).tolist())
    for r in rows:
        rel = expected.get(int(r["id"]), {})
        overlaps = {int(b): int(n) for b, n in (p.split(":") for p in r["overlaps"].split())}
        assert overlaps == {b: o for b, (o, _) in rel.items() if o}
        # Largest first, ties to the lower id: the order is part of the table.
        assert list(overlaps) == [b for _, b in sorted((-o, b) for b, o in overlaps.items())]
        found = tuple(int(r[k]) for k in ("partner_a", "contact_a", "partner_b", "contact_b"))
        assert found == oracle_partners(rel)
    return expected


def base_for(shape, seed) -> np.ndarray:
    """A base segmentation: Voronoi cells of random seeds, uint64 ids far above 2**32, with a
    'membrane' of 0 where the nearest two seeds are about equally near."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, shape, size=(40, 3))
    grid = np.indices(shape).reshape(3, -1).T
    d = np.linalg.norm(grid[:, None, :] - points[None], axis=-1)
    nearest = np.argsort(d, axis=1)[:, :2]
    gap = np.take_along_axis(d, nearest, axis=1)
    ids = (np.uint64(2**40) + nearest[:, 0].astype(np.uint64) * np.uint64(7919)).reshape(shape)
    ids[(gap[:, 1] - gap[:, 0] < 1.0).reshape(shape)] = 0
    return ids


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("relations")
    vol = make_volume(BLOCK, seed=5)
    base = base_for(vol.shape, seed=2)
    write_descriptor("file://" + str(root / "clefts"), vol, "tensorstore")
    write_segmentation("file://" + str(root / "base"), base)
    job = cc_job(root / "out", "file://" + str(root / "clefts"), baseseg=str(root / "base"))
    store = run_job(job)
    return store, vol, base


def test_overlaps_and_contacts_equal_numpy_on_the_whole_volume(synthetic):
    store, vol, base = synthetic
    out = read_segmentation(store)
    expected = check_table(read_table(store), out, vol > 0.5, base)
    assert len(expected) > 50
    assert sum(1 for rel in expected.values() if len(rel) >= 2) > 20   # segments between cells


def test_relations_show_in_the_segment_properties(synthetic):
    store, _, _ = synthetic
    rows = read_table(store)
    props = json.loads(store.read("segmentation/segment_properties/info"))["inline"]
    described = next(p for p in props["properties"] if p["id"] == "relations")
    assert described["type"] == "description" and len(described["values"]) == len(rows)
    for r, text in zip(rows, described["values"]):
        if int(r["partner_a"]):
            assert text.startswith(f"partners: {r['partner_a']} ({r['contact_a']} faces)")
        first = r["overlaps"].split()[:1]
        if first:
            b, n = first[0].split(":")
            assert f"overlaps: {b} ({n} voxels)" in text


def test_the_parquet_table_holds_the_csv_rows_typed(synthetic):
    """segments.parquet, read by DuckDB (not the writer, pyarrow), has segments.csv's rows and
    columns; ids, partners and counts come back as unsigned 64-bit integers, overlaps as a list of
    (base, voxels) in the CSV's order."""
    import duckdb
    store, _, _ = synthetic
    rows = read_table(store)
    path = store.url[len("file://"):] + "segments.parquet"
    con = duckdb.connect()
    cursor = con.execute(f"SELECT * FROM read_parquet('{path}') ORDER BY id")
    names = [d[0] for d in cursor.description]
    table = cursor.fetchall()
    assert names == list(rows[0].keys())
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()}
    assert types["id"] == types["partner_a"] == types["contact_b"] == "UBIGINT"
    assert types["overlaps"] == "STRUCT(base UBIGINT, voxels UBIGINT)[]"
    assert len(table) == len(rows) > 50
    for want, got in zip(rows, table):
        got = dict(zip(names, got))
        overlaps = " ".join(f"{o['base']}:{o['voxels']}" for o in got.pop("overlaps"))
        assert overlaps == want.pop("overlaps")
        for key, value in want.items():
            assert float(got[key]) == float(value), (key, want["id"])


# The synthetic case with a known answer: two cells, 10 (x < 31) and 20 (x > 32), a membrane of
# base 0 at x = 31, 32 (across the block face at x = 32), and a third cell 30 that covers y >= 60.
# Clefts are slabs in the membrane, 2 voxels thick (x), `h` in y and `d` in z: below y = 60 each
# has h * d face pairs with 10 on its x = 30 side and h * d with 20 on its x = 33 side. A and B
# have B's partners too, but A's centroid is 24 voxels (96 nm) from B's.
SHAPE = (64, 80, 32)
Z = (4, 12)                       # every cleft spans z 4..12: d = 8


def known_case():
    base = np.zeros(SHAPE, np.uint32)
    base[:31] = 10
    base[33:] = 20
    base[:, 60:] = 30
    base[31:33, 60:] = 0            # the membrane goes on through cell 30
    vol = np.zeros(SHAPE, np.uint8)
    clefts = {  # name: (x range, y range)
        "A": ((30, 33), (2, 10)),   # reaches one voxel into 10: more contact with 10 than with 20
        "B": ((31, 33), (26, 34)),  # 10 and 20 equally: the tie goes to the lower id
        "C": ((31, 33), (44, 50)),  # B's partners, centroid 17 voxels (68 nm) from B's in y
        "E": ((31, 33), (54, 70)),  # across the corner where 30 begins: 30 on both sides, then 10
        "D": ((31, 35), (72, 78)),  # in 30's part of the membrane and into 30: one partner only
    }
    for (x0, x1), (y0, y1) in clefts.values():
        vol[x0:x1, y0:y1, Z[0]:Z[1]] = 255
    return vol, base, clefts


def known_partners(base, box):
    """Face pairs of a box of foreground with each base id, counted by hand from the geometry:
    each of the six faces of the box meets the base layer just outside it."""
    (x0, x1), (y0, y1) = box
    z0, z1 = Z
    counts: dict = {}
    outside = [(slice(x0 - 1, x0), slice(y0, y1), slice(z0, z1)), (slice(x1, x1 + 1), slice(y0, y1), slice(z0, z1)),
               (slice(x0, x1), slice(y0 - 1, y0), slice(z0, z1)), (slice(x0, x1), slice(y1, y1 + 1), slice(z0, z1)),
               (slice(x0, x1), slice(y0, y1), slice(z0 - 1, z0)), (slice(x0, x1), slice(y0, y1), slice(z1, z1 + 1))]
    for layer in outside:
        for b in base[layer].ravel().tolist():
            if b:
                counts[b] = counts.get(b, 0) + 1
    return counts


def run_known(tmp_path, **options):
    vol, base, clefts = known_case()
    offset = [0, 0, 0]
    write_descriptor_at(tmp_path / "clefts", vol)
    write_segmentation("file://" + str(tmp_path / "base"), base, resolution=RESOLUTION, offset=offset)
    job = cc_job(tmp_path / "out", str(tmp_path / "clefts"), ccthresh=127, dustthresh=0, szthresh=0,
                 block=[32, 32, 16], chunk=[16, 16, 8], baseseg=str(tmp_path / "base"), **options)
    return job, run_job(job), vol, base, clefts


def write_descriptor_at(path, vol, resolution=RESOLUTION, chunk=(16, 16, 8)):
    """A uint8 descriptor at voxel offset 0."""
    spec = {"driver": "neuroglancer_precomputed", "kvstore": "file://" + str(path),
            "multiscale_metadata": {"type": "image", "data_type": "uint8", "num_channels": 1},
            "scale_metadata": {"size": list(vol.shape), "resolution": list(resolution), "voxel_offset": [0, 0, 0],
                               "chunk_size": list(chunk), "encoding": "raw"}}
    ts.open(spec, create=True, delete_existing=True).result()[..., 0].write(vol).result()


def by_cleft(rows, out, clefts):
    """The table row of each named cleft (found by a voxel of its box)."""
    rows = {int(r["id"]): r for r in rows}
    return {name: rows[int(out[x0, y0, Z[0]])] for name, ((x0, _), (y0, _)) in clefts.items()}


def test_partners_of_a_case_with_a_known_answer(tmp_path):
    _, store, vol, base, clefts = run_known(tmp_path)
    out = read_segmentation(store)
    rows = read_table(store)
    assert len(rows) == len(clefts)
    check_table(rows, out, vol > 127, base)             # the oracle agrees on this case too
    found = by_cleft(rows, out, clefts)
    h = {name: y1 - y0 for name, (_, (y0, y1)) in clefts.items()}
    d = Z[1] - Z[0]
    # A: 10 has its x = 29 side (h*d) and the y and z sides of the x = 30 column (2d + 2h);
    # 20 has only its x = 33 side.
    a = found["A"]
    assert (int(a["partner_a"]), int(a["contact_a"])) == (10, h["A"] * d + 2 * d + 2 * h["A"])
    assert (int(a["partner_b"]), int(a["contact_b"])) == (20, h["A"] * d)
    for name in ("B", "C"):      # a tie: both h*d, the lower id first
        r = found[name]
        assert [int(r[k]) for k in ("partner_a", "contact_a", "partner_b", "contact_b")] == \
            [10, h[name] * d, 20, h[name] * d]
    for name in ("D", "E"):      # as counted from the geometry, padded with 0 for "none"
        counts = known_partners(base, clefts[name])
        ranked = sorted((-c, b) for b, c in counts.items())[:2] + [(0, 0)] * 2
        r = found[name]
        assert [int(r[k]) for k in ("partner_a", "contact_a", "partner_b", "contact_b")] == \
            [ranked[0][1], -ranked[0][0], ranked[1][1], -ranked[1][0]]
    assert [int(found["E"][k]) for k in ("partner_a", "partner_b")] == [30, 10]
    assert [int(found["D"][k]) for k in ("partner_a", "partner_b")] == [30, 0]
    assert "components" not in rows[0]                                  # no mergethresh, no merge


@pytest.mark.parametrize("mergethresh,joined", [(60, False), (80, True)])
def test_duplicates_within_mergethresh_are_one_segment(tmp_path, mergethresh, joined):
    """B and C have the same partners and centroids 17 * 4 = 68 nm apart: merged at 80 nm, not at
    60. A shares them too but lies 96 nm from B, so it stays apart at both."""
    _, store, vol, base, clefts = run_known(tmp_path, mergethresh=mergethresh)
    out = read_segmentation(store)
    rows = read_table(store)
    found = by_cleft(rows, out, clefts)
    assert (found["B"]["id"] == found["C"]["id"]) == joined
    assert len(rows) == len(clefts) - joined
    assert [int(r["id"]) for r in rows] == list(range(1, len(rows) + 1))     # consecutive
    assert sorted(np.unique(out[out > 0]).tolist()) == [int(r["id"]) for r in rows]
    b = found["B"]
    assert int(b["components"]) == 1 + joined
    if joined:
        # One segment of both: voxels, contacts and the centroid are those of B and C together.
        size = {n: (x1 - x0) * (y1 - y0) * (Z[1] - Z[0]) for n, ((x0, x1), (y0, y1)) in clefts.items()}
        assert int(b["voxels"]) == size["B"] + size["C"] == int(np.count_nonzero(out == int(b["id"])))
        assert int(b["contact_a"]) == int(b["contact_b"]) == (8 + 6) * (Z[1] - Z[0])
        assert float(b["centroid_y"]) == (size["B"] * 29.5 + size["C"] * 46.5) / (size["B"] + size["C"])
    check_table(rows, out, vol > 127, base)


def test_plan_counts_the_base_read_and_tasks_rewrite_the_same_bytes(tmp_path):
    """emctl plan's estimate of a blocks task's bytes is what the task reports reading (the
    descriptor and the base, both with their halo); every wave's first task, run again, rewrites
    the same bytes, the duplicate merge included."""
    job, store, _, _, _ = run_known(tmp_path, mergethresh=80, keep_intermediates=True)
    plan = json.loads(store.read(jobroot.plan_key("cc.blocks")))
    for i, task in enumerate(plan["tasks"]):
        planned = STAGE.wave("blocks").cost(job, BlockTask(**task), store)
        done = json.loads(store.read(jobroot.marker_key("cc.blocks", i)))["summary"]
        assert planned["bytes_in"] == done["bytes_in"]
    keys = ["cc/", "segmentation/", "segments.csv", "segments.parquet"]
    before = {k: store.read(k) for p in keys for k in store.list(p)}
    for key in store.list(jobroot.plan_prefix("cc")):
        wave = json.loads(store.read(key))
        inprocess.run(STAGE, job, store, wave["wave"], 0, wave["tasks"][0])
    assert {k: store.read(k) for p in keys for k in store.list(p)} == before


def write_base_like(tmp_path, size=(96, 80, 72), resolution=RESOLUTION, offset=OFFSET, layer_type="segmentation"):
    write_descriptor("file://" + str(tmp_path / "clefts"), np.zeros((96, 80, 72), np.float32), "tensorstore")
    dtype = np.uint32 if layer_type == "segmentation" else np.uint8
    write_segmentation("file://" + str(tmp_path / "base"), np.zeros(size, dtype), resolution=resolution,
                       offset=offset, layer_type=layer_type)


@pytest.mark.parametrize("kwargs,match", [
    ({"size": (96, 80, 64)}, r"scale 0 has size \[96, 80, 64\], the descriptor's segmented scale has size \[96, 80, 72\]"),
    ({"resolution": (8, 8, 8)}, r"scale 0 has resolution \[8\.0, 8\.0, 8\.0\], the descriptor's segmented scale has resolution \[4\.0, 4\.0, 8\.0\]"),
    ({"offset": (0, 0, 0)}, r"scale 0 has voxel_offset \[0, 0, 0\], the descriptor's segmented scale has voxel_offset \[64, 32, 8\]"),
    ({"layer_type": "image"}, r"is a layer of type 'image'; the base must be a segmentation"),
])
def test_a_base_that_does_not_fit_is_refused_by_the_plan(tmp_path, kwargs, match):
    write_base_like(tmp_path, **kwargs)
    job = cc_job(tmp_path / "out", str(tmp_path / "clefts"), baseseg=str(tmp_path / "base"))
    with pytest.raises(TaskError, match=r"stages\.cc\.baseseg: .*base/ " + match):
        run_job(job)


def test_a_missing_base_is_named(tmp_path):
    write_descriptor("file://" + str(tmp_path / "clefts"), np.zeros((8, 8, 8), np.uint8), "tensorstore")
    job = cc_job(tmp_path / "out", str(tmp_path / "clefts"), baseseg=str(tmp_path / "nowhere"))
    with pytest.raises(TaskError, match=r"stages\.cc\.baseseg: no precomputed volume at .*nowhere/"):
        run_job(job)


def test_mergethresh_without_baseseg_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"stages\.cc\.mergethresh: .*no `baseseg` is given"):
        cc_job(tmp_path, "file://" + str(tmp_path / "clefts"), mergethresh=100)


# Real data: the ISBI stack's synapse masks (sections 0..23) as the descriptor, and a base made
# from its membrane masks: the connected components of each section's non-membrane pixels, joined
# from one section to the next where they overlap by more than half of both (one 3-D component of
# the whole stack's non-membrane pixels would be a single cell: its membranes do not close in z).
# Each synapse is cut in two by a plane of background at its centroid's x, so that duplicates with
# the same partners exist where the answer is known: the two pieces of one synapse.
REAL_SECTIONS = 24


def real_volumes() -> tuple[np.ndarray, np.ndarray, int]:
    import cv2

    def stack(kind, name):
        return np.stack([cv2.imread(str(realdata.SSTEM / kind / f"{name}_{z:03d}.png"), cv2.IMREAD_UNCHANGED).T
                         for z in range(REAL_SECTIONS)], axis=2)     # (x, y, z)

    synapses, membranes = stack("synapses", "synapse"), stack("membranes", "membrane")
    sections, top = np.zeros(membranes.shape, np.int64), 0
    for z in range(REAL_SECTIONS):
        labels, n = cc3d.connected_components(membranes[:, :, z] == 0, connectivity=4, return_N=True)
        sections[:, :, z] = np.where(labels > 0, labels + top, 0)
        top += n
    size = np.bincount(sections.ravel(), minlength=top + 1)
    a, b = sections[:, :, :-1].ravel(), sections[:, :, 1:].ravel()
    both = (a > 0) & (b > 0)
    pairs, counts = np.unique(np.stack([a[both], b[both]], axis=1), axis=0, return_counts=True)
    keep = (2 * counts > size[pairs[:, 0]]) & (2 * counts > size[pairs[:, 1]])
    roots = smallest_roots(pairs[keep, 0], pairs[keep, 1], top + 1)
    base = np.unique(roots, return_inverse=True)[1].reshape(-1)[sections].astype(np.uint32)
    clefts, n = cc3d.connected_components(synapses > 127, connectivity=26, return_N=True)
    for k in range(1, n + 1):
        cut = int(round(np.nonzero(clefts == k)[0].mean()))
        synapses[cut][clefts[cut] == k] = 0
    return synapses, base, n


def expected_duplicates(rows: list[dict], resolution, mergethresh: float) -> list[set[int]]:
    """The groups of ids the rule joins, from an unmerged table: plain Python, pair by pair."""
    groups = {int(r["id"]): {int(r["id"])} for r in rows}
    for r in rows:
        for s in rows:
            pr, ps = {int(r["partner_a"]), int(r["partner_b"])}, {int(s["partner_a"]), int(s["partner_b"])}
            if int(r["id"]) < int(s["id"]) and pr == ps and 0 not in pr and sum(
                    ((float(r[f"centroid_{a}"]) - float(s[f"centroid_{a}"])) * res) ** 2
                    for a, res in zip("xyz", resolution)) <= mergethresh ** 2:
                joined = groups[int(r["id"])] | groups[int(s["id"])]
                for i in joined:
                    groups[i] = joined
    return sorted({frozenset(g) for g in groups.values()}, key=min)


@pytest.mark.skipif(not realdata.present(), reason=realdata.MISSING)
def test_relations_on_real_sections(tmp_path):
    synapses, base, synapse_count = real_volumes()
    resolution = list(realdata.RESOLUTION)
    write_descriptor_at(tmp_path / "synapses", synapses, resolution, chunk=(64, 64, 8))
    write_segmentation("file://" + str(tmp_path / "base"), base, chunk=(64, 64, 8), resolution=resolution,
                       offset=[0, 0, 0])
    options = dict(ccthresh=127, dustthresh=0, szthresh=0, block=[256, 256, 16], chunk=[64, 64, 8],
                   baseseg=str(tmp_path / "base"))
    plain = run_job(cc_job(tmp_path / "plain", str(tmp_path / "synapses"), **options))
    out, rows = read_segmentation(plain), read_table(plain)
    check_table(rows, out, synapses > 127, base)       # overlaps, contacts, partners: exact
    assert len(rows) >= 2 * synapse_count - 2          # the cut made (about) two pieces of each
    mergethresh = 1000.0
    merged = run_job(cc_job(tmp_path / "merged", str(tmp_path / "synapses"), mergethresh=mergethresh, **options))
    groups = expected_duplicates(rows, resolution, mergethresh)
    merged_out, merged_rows = read_segmentation(merged), read_table(merged)
    # Each merged segment is exactly the union of one expected group's segments.
    assert len(merged_rows) == len(groups) < len(rows)
    for new_id, group in enumerate(groups, start=1):
        assert np.array_equal(merged_out == new_id, np.isin(out, list(group)))
        assert int(merged_rows[new_id - 1]["components"]) == len(group)
    check_table(merged_rows, merged_out, synapses > 127, base)
    joined = [g for g in groups if len(g) > 1]
    print(f"real data: {synapse_count} synapses cut into {len(rows)} segments, "
          f"{sum(1 for r in rows if int(r['partner_b']))} with two partners; mergethresh {mergethresh:g} nm "
          f"joins {len(joined)} groups ({sum(map(len, joined))} segments) into {len(merged_rows)} segments")


def test_a_gzipped_base_is_named(tmp_path):
    """CloudVolume gzips chunk files by default, which TensorStore would read as empty: a base of
    zeros would relate nothing, silently."""
    write_descriptor("file://" + str(tmp_path / "clefts"), np.zeros((8, 8, 8), np.float32), "tensorstore")
    info = CloudVolume.create_new_info(1, "segmentation", "uint32", "raw", RESOLUTION, OFFSET, [8, 8, 8],
                                       chunk_size=[8, 8, 8])
    cv = CloudVolume("file://" + str(tmp_path / "base"), info=info, progress=False)
    cv.commit_info()
    cv[cv.bounds] = np.ones((8, 8, 8, 1), np.uint32)
    job = cc_job(tmp_path / "out", str(tmp_path / "clefts"), baseseg=str(tmp_path / "base"))
    with pytest.raises(TaskError, match=r"stages\.cc\.baseseg: .*base/ stores gzipped chunk files"):
        run_job(job)
