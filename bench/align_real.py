"""Alignment on real sections: emctl next to the plain chained OpenCV script, in one run.

    python -m bench.align_real [--quick] [--mosaic 4096]

1. The real-data suite (emtest/align_cases.py: the real ssTEM stack displaced by known rigid,
   affine and elastic transforms, and with faults), scored against the truth
   (emtest/align_score.py), for emctl's pair wave and solve and for the chained OpenCV script
   (emtest/chained.py): pairwise and absolute errors in px of the real sections (4 nm), and CPU
   seconds per section of each (the pair wave alone for emctl: the solve is reported apart).
   Where a case shows the same sections at the same scale, also emctl's repeatability: its
   answer there against its answer on the same sections undisplaced (align_score.repeatability).
2. Throughput at scale: a mosaic of real sections (`--mosaic` px a side, 4 x 4 ... real sections
   side by side, each mosaic z made of sections z, so neighbouring mosaics are real neighbours),
   written as PNG and read back as a task does. emctl's pair wave (one run of sections, each
   decoded and prepared once) and the chained script on the same files: CPU seconds per section
   and MB of section per CPU second, the figure orchestrator/prices.json uses for align.pairs.

CPU seconds count every thread of the process (OpenCV's included).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from emtest import align_cases, align_memory, align_score, realdata
from emtest.chained import chained_matrices

CASES = ("identity", "rigid", "affine", "faults", "elastic")
CHAINED_MAX_SIDE = 1024


def _cpu():
    return time.process_time()


def suite(names) -> None:
    from emtest.align_score import affine_placement
    cases = align_cases.suite()
    reference = align_cases.build("undisplaced", None, seed=0, gain=0, offset=0, noise=0)
    reference_placements = align_memory.placements(align_memory.align(reference.images,
                                                                      resolution=reference.resolution)[0])
    print(f"{'case':<10}{'method':<16}{'pair median':>12}{'pair p95 reg':>13}{'abs median':>11}{'abs p95':>9}"
          f"{'unplaced':>9}{'CPU s/section':>15}")
    for name in names:
        case = cases[name]
        start = _cpu()
        doc, _ = align_memory.align(case.images, resolution=case.resolution)
        ours_cpu = (_cpu() - start) / len(case.images)
        start = _cpu()
        theirs = {z: affine_placement(m) for z, m in enumerate(chained_matrices(case.images))}
        theirs_cpu = (_cpu() - start) / len(case.images)
        rows = [("emctl", align_score.score(case, align_memory.placements(doc)).figures, ours_cpu),
                ("chained OpenCV", align_score.score(case, theirs).figures, theirs_cpu)]
        for method, f, cpu in rows:
            print(f"{name:<10}{method:<16}{f['pair_median']:>12.2f}{f['pair_p95_regular']:>13.2f}"
                  f"{f['abs_median']:>11.2f}{f['abs_p95']:>9.2f}{f['unplaced_pairs']:>9d}{cpu:>15.3f}")
        ratio = rows[1][1]["pair_median"] / max(rows[0][1]["pair_median"], 1e-9)
        print(f"{'':<10}emctl / chained: {ratio:.0f}x more accurate by pair median, "
              f"{rows[0][2] / rows[1][2]:.2f}x the CPU per section; splits {doc['splits']}")
        if case.up == reference.up and case.sources == reference.sources:
            same = align_score.repeatability(reference, reference_placements, case, align_memory.placements(doc))
            print(f"{'':<10}emctl here against emctl on the same sections undisplaced: pair median "
                  f"{same['pair_median']:.2f} px, p95 {same['pair_p95']:.2f}")


def elastic() -> None:
    """The seamless stage after emctl's affine on the elastic case: the truth's scores and the
    stack's continuity (NCC of rendered neighbours, which needs no truth) with and without it."""
    import sys
    import tempfile
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gpu-jobs"))
    from emcore.fieldstore import read_field
    from emtest import seamless_memory
    case = align_cases.suite()["elastic"]
    doc, _ = align_memory.align(case.images, resolution=case.resolution)
    matrices = [s["matrix"] for s in doc["sections"]]
    affine = align_score.score(case, align_memory.placements(doc)).figures
    print(f"\nelastic case, seamless stage (vote 3) after emctl's affine, each estimator at mip 1 and 2:")
    print(f"  affine only      pair median {affine['pair_median']:.2f} px, p95 {affine['pair_p95_regular']:.2f}, "
          f"continuity {np.nanmean(align_score.continuity(case.images, matrices)):.3f}")
    for estimator, mip in ((e, m) for e in ("correlation", "flow") for m in (1, 2)):
        with tempfile.TemporaryDirectory() as tmp:
            start = _cpu()
            summaries, job, store = seamless_memory.fields(case.images, doc, case.resolution, tmp, mip=mip,
                                                           estimator=estimator)
            cpu = (_cpu() - start) / len(case.images)
            f = align_score.score(case, seamless_memory.placements(doc, job, store)).figures
            found = [read_field(store, job, z) for z in range(len(case.images))]
            pairs = [p for s in summaries["pairs"] for p in s["pairs"]]
            print(f"  + {estimator:<11} mip {mip} pair median {f['pair_median']:.2f} px, p95 {f['pair_p95_regular']:.2f}, "
                  f"continuity {np.nanmean(align_score.continuity(case.images, matrices, fields=found)):.3f}; "
                  f"pair NCC {np.median([p['ncc_affine'] for p in pairs]):.2f} -> "
                  f"{np.median([p['ncc_field'] for p in pairs]):.2f}; {cpu:.2f} CPU s/section")


def mosaic(side: int, sections: int, directory: str) -> list[str]:
    """PNG files of `side` px mosaics of real sections. Tile k of mosaic z shows real section
    z + o_k, turned or mirrored by variant v_k (the eight symmetries of a square), the same o_k,
    v_k in every mosaic: consecutive mosaics are consecutive real sections tile by tile, and no
    two tiles of a mosaic are the same image."""
    import cv2
    tile = realdata.section(0).shape[0]
    per = -(-side // tile)
    names = []
    for z in range(sections):
        tiles = []
        for k in range(per * per):
            image = realdata.section(z + (k // 8) % (realdata.SECTIONS - sections))
            image = np.rot90(image, k % 4)
            tiles.append(image[:, ::-1] if (k // 4) % 2 else image)
        rows = [np.hstack(tiles[i * per:(i + 1) * per]) for i in range(per)]
        name = os.path.join(directory, f"m{z:03d}.png")
        cv2.imwrite(name, np.ascontiguousarray(np.vstack(rows)[:side, :side]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        names.append(name)
    return names


def at_scale(side: int, sections: int, price: bool = False) -> None:
    """The pair wave's CPU per section on `side` px mosaics of real sections, next to the chained
    OpenCV script's; with `price`, recorded as align.pairs for the price table (bench.throughput)."""
    import cv2
    from bench.throughput import record_waves
    from emcore.images import decode_png
    from functions.align.options import OPTIONS, matching_factor, partners
    from functions.align.pairwave import Preparer, match_run
    with tempfile.TemporaryDirectory() as tmp:
        names = mosaic(side, sections, tmp)

        def read(z: int) -> np.ndarray:
            with open(names[z], "rb") as f:
                return decode_png(f.read(), names[z])
        options = OPTIONS.validate({})
        mb = side * side / 1e6
        start, wall = _cpu(), time.time()
        preparer = Preparer(read, matching_factor(options, realdata.RESOLUTION))
        statuses = [r.status for _, _, results in match_run(range(sections),
                                                            lambda z: partners(z, sections - 1, options["reach"], []),
                                                            preparer, reach=options["reach"]) for r in results]
        ours = (_cpu() - start) / sections
        ours_wall = (time.time() - wall) / sections
        print(f"\n{side} px mosaics of real sections ({mb:.1f} MB each), {sections} sections, "
              f"pairs {dict((s, statuses.count(s)) for s in set(statuses))}")
        print(f"  emctl pair wave:  {ours:.2f} CPU s/section ({ours_wall:.2f} s wall), "
              f"{mb / ours:.1f} MB per CPU second{'  <- align.pairs in orchestrator/prices.json' if price else ''}")
        if price:
            # Each section read once here; a job's pair task also reads the `reach` sections after
            # its run (functions/align/cost.py), so its plan counts a little more than this run did.
            record_waves("align_real", f"pair wave on {side} px mosaics of real ISBI sections, {sections} sections",
                         {"align.pairs": {"tasks": 1, "bytes_in": side * side * sections,
                                          "cpu_seconds": ours * sections}})
        if side > CHAINED_MAX_SIDE:
            print(f"  chained OpenCV:   not run above {CHAINED_MAX_SIDE} px (its brute-force matching of every "
                  "SIFT feature grows with the square of their number)")
            return
        start = _cpu()
        chained_matrices([read(z) for z in range(sections)])
        theirs = (_cpu() - start) / sections
        print(f"  chained OpenCV:   {theirs:.2f} CPU s/section, {mb / theirs:.2f} MB per CPU second")
        print(f"  emctl / chained:  {ours / theirs:.3f}x the CPU per section (OpenCV threads: {cv2.getNumThreads()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--mosaic", type=int, default=4096)
    args = parser.parse_args()
    if not realdata.present():
        print(f"skipped: {realdata.MISSING}")
        return
    suite(("affine", "faults") if args.quick else CASES)
    if not args.quick:
        elastic()
    at_scale(1024, 4)
    if not args.quick:
        at_scale(args.mosaic, 8, price=True)


if __name__ == "__main__":
    main()
