"""Alignment against known displacements (the oracle), and against the field's chained-pairs
approach on the same pairs, so each test shows what the global solve buys.

Measured: residuals in true pixels of a 9x9 grid over the whole field, after removing one global
affine (see tests/test_align_stacks.py). Requirements: median < 0.3 px, 95th percentile < 1 px,
and no growth of the error with the stack's length. Run with `-s` to see the figures.
"""
from __future__ import annotations

from collections import Counter

import pytest

from emtest.align_stacks import (align_in_memory, chained, defect_stack, known_stack, quarter_medians, solved,
                                     solve_prefix, stats, truth_residuals)

MEDIAN, P95 = 0.3, 1.0


def _show(title, **rows):
    print(f"\n{title}")
    for name, s in rows.items():
        print(f"  {name:<8} median {s['median']:.3f} px   p95 {s['p95']:.3f} px   max {s['max']:.3f} px")


@pytest.mark.parametrize("kind", ["translation", "rigid", "affine"])
def test_known_displacements_are_undone(kind):
    size, n = 320, 14
    images, truth = known_stack(kind, size, n, seed=1)
    doc, pairs = align_in_memory(images)
    solve_stats = stats(truth_residuals(solved(doc), truth, size, range(n)))
    chain_stats = stats(truth_residuals(chained(pairs, range(n)), truth, size, range(n)))
    _show(f"{kind} ({n} x {size} px)", solve=solve_stats, chained=chain_stats)
    assert solve_stats["median"] < MEDIAN and solve_stats["p95"] < P95
    assert all(p["status"] == "ok" for p in pairs)
    # The per-pair model follows the displacement: extra freedom only when it explains something.
    chosen = Counter(p["model"] for p in pairs)
    assert chosen[kind] >= 0.8 * len(pairs), chosen
    assert not doc["poor_pairs"] and not any(s["flags"] for s in doc["sections"])


@pytest.fixture(scope="module")
def defects():
    size = 320
    images, truth, bad = defect_stack(size)
    doc, pairs = align_in_memory(images)
    return size, truth, bad, doc, pairs


def test_bad_sections_are_bridged_flagged_and_do_not_break_the_stack(defects):
    size, truth, bad, doc, pairs = defects
    n = len(truth)
    flags = {s["z"]: s["flags"] for s in doc["sections"]}
    assert flags[4] == ["blank", "bridged"]
    # Noise alone is no tissue: the damaged section is blank too (functions/align/prepare.py).
    assert flags[11] == ["blank", "bridged"]
    assert flags[9] == ["duplicate"] and doc["sections"][9]["duplicate_of"] == 8
    assert not doc["splits"]
    assert sorted(z for z, f in flags.items() if f) == [4, 9, 11]
    # Brightness changes do not matter: the dimmed and saturated sections match as well as any.
    for z in bad["brightness"]:
        assert all(p["status"] == "ok" for p in pairs if z in (p["z"], p["w"]) and 11 not in (p["z"], p["w"]))
    # Pairs failing because a section is blank are reported with the section, not as pairs.
    assert not doc["poor_pairs"]

    good = [z for z in range(n) if z not in bad["blank"] + bad["damaged"]]
    solve_stats = stats(truth_residuals(solved(doc), truth, size, good))
    chain_stats = stats(truth_residuals(chained(pairs, range(n)), truth, size, good))
    _show(f"blank, damaged, duplicated, dimmed and saturated sections ({n} x {size} px)",
          solve=solve_stats, chained=chain_stats)
    assert solve_stats["median"] < MEDIAN and solve_stats["p95"] < P95
    # Chaining has nothing to carry the stack over a blank section: it splits there.
    assert chain_stats["median"] > 10 * solve_stats["median"] and chain_stats["p95"] > 3.0


@pytest.fixture(scope="module")
def long_stack():
    size, n = 256, 100
    images, truth = known_stack("affine", size, n, seed=2)
    _, pairs = align_in_memory(images)
    return size, n, truth, pairs


def test_error_does_not_grow_with_stack_length(long_stack):
    """The same 100-section stack aligned as its first 25, 50 and 100 sections. With the anchor
    pairs the error is the same at every length and along the stack. Shown beside it: the solve
    over neighbour pairs only, whose error is a random walk along z and grows with the length, and
    the chained pairs, whose error grows fastest."""
    size, n, truth, pairs = long_stack
    rows = {}
    for length in (25, 50, 100):
        def measure(matrices):
            return stats(truth_residuals(matrices, truth, size, range(length)))
        rows[length] = {
            "solve": measure(solve_prefix(pairs, size, length)),
            "nearonly": measure(solve_prefix(pairs, size, length, anchors=False)),
            "chained": measure(chained([p for p in pairs if p["w"] < length], range(length))),
        }
        _show(f"affine stack, first {length} of {n} sections ({size} px)", **rows[length])
    for row in rows.values():
        assert row["solve"]["median"] < MEDIAN and row["solve"]["p95"] < P95
    # No growth: 100 sections are within noise of 25 ...
    short, full = rows[25]["solve"], rows[100]["solve"]
    assert full["median"] < 1.2 * short["median"] + 0.01
    assert full["p95"] < 1.2 * short["p95"] + 0.02
    # ... and along the 100 sections no quarter is worse than another.
    quarters = quarter_medians(truth_residuals(solve_prefix(pairs, size, n), truth, size, range(n)))
    print("  solve, median per quarter of the stack:", " ".join(f"{q:.3f}" for q in quarters))
    assert max(quarters) < 1.3 * min(quarters) + 0.01
    # What the anchors and the solve buy over 100 sections.
    assert full["median"] < 0.8 * rows[100]["nearonly"]["median"]
    assert full["median"] < rows[100]["chained"]["median"]


def test_non_square_sections_of_different_sizes():
    """Rows and columns are never confused, and sections need not share a size: every other
    section is cropped (cropping keeps pixel coordinates, so the truth still holds)."""
    size, n = 320, 6
    images, truth = known_stack("affine", size, n, seed=4)
    images = [im[:240, :] if z % 2 else im[:, :260] for z, im in enumerate(images)]
    doc, pairs = align_in_memory(images)
    assert all(p["status"] == "ok" for p in pairs)
    s = stats(truth_residuals(solved(doc), truth, size, range(n)))
    assert s["median"] < MEDIAN and s["p95"] < P95, s
    assert [sec["shape"] for sec in doc["sections"]][:2] == [[320, 260], [240, 320]]
