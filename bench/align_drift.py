"""Alignment error against stack length: one long stack with known displacements, aligned as its
first 25, 50, 100, ... sections by the global solve with the anchor pairs (the default), by the
solve over neighbour pairs only, and by chaining the adjacent pairs (the field's usual recipe).

    python -m bench.align_drift [--sections 200] [--size 256]

The error is the residual in true pixels of a grid of points after removing one global affine
(tests/test_align_stacks.py: truth_residuals). Neighbour pairs fix each section only relative to
the next few, so their errors add up along z as a random walk; the anchors (z+8, z+32, as the synthetic test stacks use them)
are what keep the error flat.
"""
from __future__ import annotations

import argparse
import time

from emtest.align_stacks import (align_in_memory, chained, known_stack, quarter_medians, solve_prefix, stats,
                                     truth_residuals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", type=int, default=200)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    started = time.time()
    images, truth = known_stack("affine", args.size, args.sections, seed=args.seed)
    _, pairs = align_in_memory(images)
    print(f"{args.sections} sections of {args.size} px, {len(pairs)} pairs matched in {time.time() - started:.0f} s")
    print(f"{'sections':>8}  {'solve (anchors)':>22}  {'solve (neighbours only)':>24}  {'chained':>22}")
    lengths = [n for n in (25, 50, 100, 200, 400, 800) if n < args.sections] + [args.sections]
    for n in lengths:
        cells = []
        for matrices in (solve_prefix(pairs, args.size, n, True), solve_prefix(pairs, args.size, n, False),
                         chained([p for p in pairs if p["w"] < n], range(n))):
            s = stats(truth_residuals(matrices, truth, args.size, range(n)))
            cells.append(f"{s['median']:.3f} / {s['p95']:.3f} px")
        print(f"{n:>8}  {cells[0]:>22}  {cells[1]:>24}  {cells[2]:>22}")
    residuals = truth_residuals(solve_prefix(pairs, args.size, args.sections, True), truth, args.size,
                                range(args.sections))
    quarters = quarter_medians(residuals)
    print("median / p95 over all points; solve with anchors, median per quarter of the stack: "
          + " ".join(f"{q:.3f}" for q in quarters))


if __name__ == "__main__":
    main()
