"""The pair wave's work for a run of consecutive sections: each section read and prepared once,
then matched with each of its partners (options.partners).

A run of sections shares its preparations: section z + 1 prepared as z's partner is reused when
its own turn comes, so each section is decoded and prepared about once per run instead of once per
pair it is in (1 + reach + anchors times). Only the sections the next `reach` turns need are
kept, so memory holds reach + 1 sections whatever the run's length; an anchor partner far ahead
is prepared for its pair and dropped.

A pair that fails is tried once more at working pixels twice as large: measured on mosaics of
the real sections (2048 px), pairs 100 nm apart succeed at 16 nm where they may not at 8 nm
(bench/align_real.py).
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator

import numpy as np

from functions.align.pairs import PairResult, match_pair
from functions.align.prepare import Prepared, factors, prepare

MIN_WORKING_SIDE = 256    # a failed pair is tried again at twice the working pixel if still this big


class Preparer:
    """Prepared sections by z, made on first use at the factors a pair needs."""

    def __init__(self, read: Callable[[int], np.ndarray], requested_factor: int = 1):
        self.read = read
        self.requested = requested_factor
        self.cache: dict[int, Prepared] = {}
        self.reads = 0                      # sections read, for the task's summary

    def get(self, z: int, at: tuple[int, int] | None = None) -> Prepared:
        have = self.cache.get(z)
        if have is None or (at is not None and (have.coarse.factor, have.medium.factor) != at):
            if have is None:
                image = self.read(z)
                self.reads += 1
            else:
                image = have.section
            at = at or factors(image.shape, self.requested)
            have = prepare(image, *at)
            self.cache[z] = have
        return have

    def keep_only(self, wanted: set[int]) -> None:
        for z in [z for z in self.cache if z not in wanted]:
            del self.cache[z]


def pair_factors(a: Prepared, b: Prepared, requested: int) -> tuple[int, int]:
    """Both sections of a pair are matched at the same factors: those of the larger one."""
    fa, fb = factors(a.shape, requested), factors(b.shape, requested)
    return max(fa, fb)


def match_run(zs: Iterable[int], partners: Callable[[int], list[int]], preparer: Preparer, cap: str = "affine",
              max_rotation: float = 10.0, reach: int = 2) -> Iterator[tuple[int, dict, list[PairResult]]]:
    """For each z of the run, in order: (z, section info, its pairs' results)."""
    zs = sorted(zs)
    for i, z in enumerate(zs):
        own = preparer.get(z)
        results = []
        for w in partners(z):
            other = preparer.get(w)
            at = pair_factors(own, other, preparer.requested)
            result = match_pair(z, w, preparer.get(z, at), preparer.get(w, at), cap, max_rotation)
            coarser = (max(at[0], 2 * at[1]), 2 * at[1])
            if result.status == "failed" and not own.blank and not other.blank and \
                    min(own.shape) // coarser[1] >= MIN_WORKING_SIDE:
                # Sections further apart (across a missing one) share only coarser structure.
                result = match_pair(z, w, preparer.get(z, coarser), preparer.get(w, coarser), cap, max_rotation)
            results.append(result)
        info = {"z": z, "shape": list(own.shape), "blank": own.blank}
        yield z, info, results
        later = set(zs[i + 1:i + 1 + reach])
        preparer.keep_only(later | {w for u in later for w in partners(u) if w <= u + reach})
