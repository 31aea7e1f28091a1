"""Alignment against known displacements (the oracle), and against the field's chained-pairs
approach on the same pairs, so each test shows what the global solve buys.

Measured: residuals in true pixels of a 9x9 grid over the whole field, after removing one global
affine (see tests/test_align_stacks.py). Requirements: median < 0.3 px, 95th percentile < 1 px,
and no growth of the error with the stack's length. Run with `-s` to see the figures.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from functions.align.transforms import build
from tests.test_align_stacks import (align_in_memory, chained, defect_stack, known_stack, solved, stats,
                                     truth_residuals)

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
    assert flags[11] == ["bridged"]
    assert flags[9] == ["duplicate"] and doc["sections"][9]["duplicate_of"] == 8
    assert not doc["splits"]
    assert sorted(z for z, f in flags.items() if f) == [4, 9, 11]
    # Brightness changes do not matter: the dimmed and saturated sections match as well as any.
    for z in bad["brightness"]:
        assert all(p["status"] == "ok" for p in pairs if z in (p["z"], p["w"]) and 11 not in (p["z"], p["w"]))
    # The damaged section's pairs are reported; the blank one's are not (the section is).
    assert {(p["z"], p["w"]) for p in doc["poor_pairs"]} == {(9, 11), (10, 11), (11, 12), (11, 13)}

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


def _solve_prefix(pairs, size, length):
    sections = {z: {"shape": [size, size], "features": 1, "blank": False} for z in range(length)}
    return solved(build(sections, [p for p in pairs if p["w"] < length]))


def test_error_does_not_grow_with_stack_length(long_stack):
    """The same 100-section stack aligned as its first 25, 50 and 100 sections: the global solve's
    error stays within the limits and levels off (the rigid term holds the slow drift), where the
    chained error keeps growing with every pair it composes."""
    size, n, truth, pairs = long_stack
    rows = {}
    for length in (25, 50, 100):
        s = stats(truth_residuals(_solve_prefix(pairs, size, length), truth, size, range(length)))
        c = stats(truth_residuals(chained([p for p in pairs if p["w"] < length], range(length)), truth, size,
                                  range(length)))
        rows[length] = (s, c)
        _show(f"affine stack, first {length} of {n} sections ({size} px)", solve=s, chained=c)
    for s, _ in rows.values():
        assert s["median"] < MEDIAN and s["p95"] < P95
    # Levelling off: doubling the stack from 50 to 100 sections adds little.
    assert rows[100][0]["p95"] < 1.3 * rows[50][0]["p95"] + 0.05
    # ... and the solve is better than chaining over the long stack.
    assert rows[100][0]["median"] < rows[100][1]["median"]
    # Along the 100 sections, the far end is no worse than the near end.
    per_section = truth_residuals(_solve_prefix(pairs, size, n), truth, size, range(n))
    near, far = np.percentile(per_section[:25], 95), np.percentile(per_section[-25:], 95)
    assert far < 1.5 * near + 0.1


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
