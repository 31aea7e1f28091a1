"""The align stage's pure parts on synthetic correspondences (no images): model fits and the
selection rule, RANSAC, the pair record format, and the global solve's promises (exact on exact
data, no shrinking, bridging, splits, inconsistent pairs dropped, model caps)."""
from __future__ import annotations

import numpy as np
import pytest

from emcore.stage import TaskError
from functions.align import models, records
from functions.align.frame import bounding_box, fill
from functions.align.options import partners
from functions.align.report import describe
from functions.align.solve import PairData, solve
from functions.align.transforms import build, matrices_of

RNG = np.random.default_rng(0)


def affine(angle_deg=0.0, scale=(1.0, 1.0), shear=0.0, shift=(0.0, 0.0)) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    lin = rot @ np.array([[scale[0], shear], [0.0, scale[1]]])
    return np.hstack([lin, np.array(shift, float)[:, None]])


# -- models ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("model,truth", [
    ("translation", affine(shift=(3.5, -2))),
    ("rigid", affine(angle_deg=7, shift=(10, 4))),
    ("affine", affine(angle_deg=2, scale=(1.03, 0.98), shear=0.035, shift=(-5, 8))),
])
def test_fit_is_exact_and_selection_picks_the_generating_model(model, truth):
    src = RNG.uniform(0, 500, (200, 2))
    dst = models.apply(truth, src)
    assert np.allclose(models.fit(model, src, dst), truth, atol=1e-9)
    noisy = dst + RNG.normal(0, 0.1, dst.shape)
    chosen, m, _ = models.select(src, noisy, "affine", (500, 500))
    assert chosen == model
    assert np.abs(models.apply(m, src) - dst).max() < 0.2


def test_selection_respects_the_cap_and_ignores_invisible_deformation():
    src = RNG.uniform(0, 500, (300, 2))
    truth = affine(angle_deg=1, scale=(1.02, 1.0), shift=(4, 4))
    dst = models.apply(truth, src) + RNG.normal(0, 0.1, src.shape)
    assert models.select(src, dst, "rigid", (500, 500))[0] == "rigid"
    # A deformation moving no corner by MIN_EFFECT is not modelled, however significant.
    tiny = affine(scale=(1 + 0.1 / 500, 1.0), shift=(2, 1))
    dst = models.apply(tiny, src) + RNG.normal(0, 0.01, src.shape)
    assert models.select(src, dst, "affine", (500, 500))[0] == "translation"


def test_ransac_recovers_the_model_among_outliers_and_is_deterministic():
    src = RNG.uniform(0, 800, (400, 2))
    truth = affine(angle_deg=3, scale=(1.01, 0.99), shift=(20, -15))
    dst = models.apply(truth, src) + RNG.normal(0, 0.3, src.shape)
    bad = RNG.random(400) < 0.6
    dst[bad] = RNG.uniform(0, 800, (bad.sum(), 2))
    m, mask = models.ransac("affine", src, dst, 2.0, seed=1)
    assert np.abs(models.apply(m, src) - models.apply(truth, src)).max() < 0.3
    assert mask[~bad].mean() > 0.95 and mask[bad].mean() < 0.02
    m2, mask2 = models.ransac("affine", src, dst, 2.0, seed=1)
    assert np.array_equal(m, m2) and np.array_equal(mask, mask2)


# -- records --------------------------------------------------------------------------------------

def test_pair_record_round_trip_is_byte_stable():
    info = {"z": 3, "shape": [100, 120], "features": 50, "blank": False}
    pairs = [{"z": 3, "w": 4, "status": "ok", "residual": 0.2, "src": RNG.uniform(0, 100, (7, 2)),
              "dst": RNG.uniform(0, 100, (7, 2))},
             {"z": 3, "w": 5, "status": "failed", "residual": None, "src": np.zeros((0, 2)), "dst": np.zeros((0, 2))}]
    data = records.encode_pairs(info, pairs)
    assert data == records.encode_pairs(info, pairs)
    got_info, got = records.decode_pairs(data)
    assert got_info == info and [p["w"] for p in got] == [4, 5]
    assert np.allclose(got[0]["src"], pairs[0]["src"], atol=1e-3) and got[1]["src"].shape == (0, 2)
    with pytest.raises(TaskError, match="truncated"):
        records.decode_pairs(data[:-5])


# -- the solve ------------------------------------------------------------------------------------

SIZE = 400


def synthetic_stack(n, noise=0.05, points=150, reach=2, missing=(), wrong=(), seed=0):
    """Correspondences of n sections displaced by random affines (true -> section), with `noise`
    px per coordinate. Sections in `missing` have no pairs; pairs in `wrong` are consistent with a
    transform 6 px and 1 degree off (a repeated structure matched)."""
    rng = np.random.default_rng(seed)
    truth = [affine(rng.uniform(-2, 2), rng.uniform(0.97, 1.03, 2), rng.uniform(-0.035, 0.035),
                    rng.uniform(-15, 15, 2)) for _ in range(n)]
    pairs = []
    for z in range(n):
        for w in range(z + 1, min(n, z + reach + 1)):
            if z in missing or w in missing:
                continue
            true = rng.uniform(0, SIZE, (points, 2))
            src = models.apply(truth[z], true) + rng.normal(0, noise, true.shape)
            dst = models.apply(truth[w], true) + rng.normal(0, noise, true.shape)
            if (z, w) in wrong:
                dst = models.apply(affine(angle_deg=1, shift=(6, 0)), dst)
            pairs.append(PairData(z, w, src, dst, max(noise * 2 ** 0.5, 0.01)))
    return truth, pairs


def residuals(matrices, truth, sections):
    grid = np.stack(np.meshgrid(np.linspace(0, SIZE, 9), np.linspace(0, SIZE, 9)), -1).reshape(-1, 2)
    placed = np.concatenate([models.apply(models.compose(matrices[z], truth[z]), grid) for z in sections])
    true = np.concatenate([grid] * len(sections))
    g = models.fit("affine", true, placed)
    return np.linalg.norm(models.apply(models.invert(g), placed) - true, axis=1), g


def test_solve_is_exact_on_exact_data_and_the_gauge_is_the_mean_section():
    truth, pairs = synthetic_stack(40, noise=0.0)
    sol = solve({z: (SIZE, SIZE) for z in range(40)}, pairs, rigidity=1e-9)
    r, _ = residuals(sol.matrices, truth, range(40))
    assert r.max() < 1e-3
    # The mean section: no anisotropy or shear, scale 1, no rotation, centre in place.
    lin = np.array([m[:, :2] for m in sol.matrices.values()])
    a, b, c, d = lin[:, 0, 0], lin[:, 0, 1], lin[:, 1, 0], lin[:, 1, 1]
    assert abs(np.mean(a - d)) < 1e-9 and abs(np.mean(b + c)) < 1e-9
    assert abs(np.mean(np.hypot(a + d, c - b) / 2) - 1) < 1e-6
    assert abs(np.mean(np.arctan2(c - b, a + d))) < 1e-3
    centre = np.array([(SIZE - 1) / 2] * 2)
    assert np.allclose(np.mean([models.apply(m, centre[None])[0] for m in sol.matrices.values()], axis=0), centre)


def test_rigid_model_is_exact_on_rigid_data():
    """Sections rotated differently can all be rigid at once (the gauge does not ask the mean of
    their rotation matrices to be a rotation)."""
    rng = np.random.default_rng(3)
    truth = [affine(rng.uniform(-3, 3), shift=rng.uniform(-12, 12, 2)) for _ in range(15)]
    pairs = []
    for z in range(15):
        for w in range(z + 1, min(15, z + 3)):
            true = rng.uniform(0, SIZE, (100, 2))
            pairs.append(PairData(z, w, models.apply(truth[z], true), models.apply(truth[w], true), 0.05,
                                  model="rigid"))
    sol = solve({z: (SIZE, SIZE) for z in range(15)}, pairs, "affine")
    assert sol.model == "rigid"
    r, _ = residuals(sol.matrices, truth, range(15))
    assert r.max() < 1e-3       # exact but for the priors (solve.SHAPE_PRIOR, PLACE), which crisp data outweigh


def test_noisy_stack_neither_shrinks_nor_shears():
    """With noise in both sections' points the data term alone favours a shrunken stack; the
    hard gauge keeps the mean section at scale 1 and the rigid term its shape."""
    truth, pairs = synthetic_stack(200, noise=0.3)
    sol = solve({z: (SIZE, SIZE) for z in range(200)}, pairs)
    r, g = residuals(sol.matrices, truth, range(200))
    sv = np.linalg.svd(g[:, :2], compute_uv=False)
    assert abs(sv[0] - 1) < 0.005 and abs(sv[1] - 1) < 0.005
    assert np.median(r) < 0.3 and np.percentile(r, 95) < 1.0


def test_a_section_without_pairs_is_bridged_and_interpolated():
    truth, pairs = synthetic_stack(12, missing=(5,))
    sections = {z: {"shape": [SIZE, SIZE], "features": 100, "blank": z == 5} for z in range(12)}
    doc = build(sections, [{"z": p.z, "w": p.w, "status": "ok", "residual": p.residual, "src": p.src,
                            "dst": p.dst, "matches": len(p.src), "inliers": len(p.src)} for p in pairs])
    flags = {s["z"]: s["flags"] for s in doc["sections"]}
    assert flags[5] == ["blank", "bridged"] and not doc["splits"]
    assert all(not f for z, f in flags.items() if z != 5)
    r, _ = residuals(matrices_of(doc), truth, [z for z in range(12) if z != 5])
    assert np.percentile(r, 95) < 0.3
    # The bridged section lies between its neighbours.
    m = matrices_of(doc)
    assert np.allclose(m[5], (m[4] + m[6]) / 2)


def test_two_missing_sections_split_the_stack_and_say_so():
    truth, pairs = synthetic_stack(12, missing=(5, 6))
    sol = solve({z: (SIZE, SIZE) for z in range(12) if z not in (5, 6)}, pairs)
    assert sol.splits == [(4, 7)]
    # Each part is aligned within itself.
    for part in (range(0, 5), range(7, 12)):
        r, _ = residuals(sol.matrices, truth, list(part))
        assert np.percentile(r, 95) < 0.3


def test_an_inconsistent_pair_is_rejected_and_does_not_bend_the_stack():
    truth, pairs = synthetic_stack(20, wrong={(8, 9)})
    sol = solve({z: (SIZE, SIZE) for z in range(20)}, pairs)
    assert [(z, w) for z, w, _ in sol.rejected] == [(8, 9)]
    r, _ = residuals(sol.matrices, truth, range(20))
    assert np.percentile(r, 95) < 0.3


@pytest.mark.parametrize("cap", ["rigid", "translation"])
def test_model_cap_limits_the_section_transforms(cap):
    _, pairs = synthetic_stack(10)
    sol = solve({z: (SIZE, SIZE) for z in range(10)}, pairs, cap)
    for m in sol.matrices.values():
        lin = m[:, :2]
        if cap == "translation":
            assert np.allclose(lin, np.eye(2))
        else:
            assert np.allclose(lin @ lin.T, np.eye(2), atol=1e-9)


def test_frame_holds_every_section_and_fills_gaps():
    m = {0: affine(shift=(-10, 5)), 2: affine(angle_deg=3, shift=(20, -7))}
    full = fill(m, [0, 1, 2, 3])
    assert np.allclose(full[1], (m[0] + m[2]) / 2) and np.allclose(full[3], m[2])
    origin, (w, h), clipped = bounding_box(full, {z: (100, 200) for z in full})
    corners = np.array([[0, 0], [200, 0], [0, 100], [200, 100]], float)
    for mat in full.values():
        p = models.apply(mat, corners) - origin
        assert p.min() >= 0 and (p[:, 0] <= w).all() and (p[:, 1] <= h).all()
    assert not clipped
    wild = {0: affine(), 1: affine(shift=(5000, 0))}
    _, (w, _), clipped = bounding_box(wild, {0: (100, 200), 1: (100, 200)})
    assert clipped and w <= 400


def test_partners_are_the_neighbours_and_the_anchors_within_the_stack():
    assert partners(0, 99, 2, [8, 32]) == [1, 2, 8, 32]
    assert partners(90, 99, 2, [8, 32]) == [91, 92, 98]
    assert partners(98, 99, 2, [8, 32]) == [99]
    assert partners(0, 99, 3, [2]) == [1, 2, 3]
    assert partners(99, 99, 2, [8]) == []


def test_an_anchor_that_finds_nothing_is_counted_not_listed_as_poor():
    """An anchor pair without common tissue is expected (the tissue changes over many sections):
    `emctl status` counts the anchors used; a neighbour pair that fails is still listed."""
    truth, pairs = synthetic_stack(20)
    records_ = [{"z": p.z, "w": p.w, "status": "ok", "residual": p.residual, "src": p.src, "dst": p.dst,
                 "matches": len(p.src), "inliers": len(p.src), "reason": ""} for p in pairs]
    empty = {"status": "failed", "residual": None, "src": np.zeros((0, 2)), "dst": np.zeros((0, 2)),
             "matches": 3, "inliers": 0, "reason": "too few matches"}
    records_ += [{"z": z, "w": z + 8, **empty} for z in range(12)]
    records_ = [r for r in records_ if (r["z"], r["w"]) != (3, 4)] + [{"z": 3, "w": 4, **empty}]
    sections = {z: {"shape": [SIZE, SIZE], "features": 100, "blank": False} for z in range(20)}
    doc = build(sections, records_, reach=2)
    assert [(p["z"], p["w"]) for p in doc["poor_pairs"]] == [(3, 4)]
    assert doc["summary"]["anchors"] == {"tried": 12, "used": 0}
    lines = describe(doc)
    assert "  long-range anchor pairs: 0 of 12 used" in lines
    assert any(line.startswith("  pair 3-4 failed: too few matches") for line in lines)
