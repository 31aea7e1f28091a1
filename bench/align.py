"""Alignment benchmark on the synthetic sample at large sizes: seconds per section pair and peak
memory per task, emctl's pair wave next to the plain OpenCV chained-pairs approach, measured in
the same run on the same sections. (Accuracy and CPU on real sections: bench/align_real.py.)

    python -m bench.align [--sizes 2048,8192] [--data bench-data/align]

Sections are the EM-like sample tissue displaced by known affines (orchestrator/samplestack.py),
written once as PNG files under --data and reused by later runs. Every measurement runs in a
fresh process that reads the PNGs as a task does, so its peak resident memory
(getrusage ru_maxrss) is what one task needs, interpreter and libraries included ("idle" is the
same process before it reads anything).

  emctl     one pair-wave run of one section: z matched to z+1 and z+2 (reach 2), each section
            read and prepared once: coarse rotation search, two passes of patch correlation,
            robust fit, model selection. s/pair is the run's time / 2.
  opencv    the usual recipe for the adjacent pairs z, z+1 and z+1, z+2: SIFT once per section
            (shrunk to at most 2048 px, since full-resolution SIFT on 8192 px needs ~15 GB), BF
            ratio test, cv2.estimateAffine2D with RANSAC; chaining the pairs afterwards is free.

"err" is the largest error, at the section's corners, of the pair models against the known
displacements (px at full resolution). The solve is timed on synthetic correspondences.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

SECTIONS = 3          # z, z+1, z+2: one emctl task, two adjacent OpenCV pairs
FACTOR = 1            # emctl's matching factor: the sample is rendered at 8 nm (docs/align.md)
SEED = 11


def _rss_mb() -> float:
    """Peak resident memory of this process so far. VmHWM belongs to the address space, which exec
    replaces: unlike ru_maxrss it does not start at the parent's size at fork."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_sections(directory: str, size: int) -> None:
    """The sample sections and their truth, unless already there."""
    from orchestrator.samplestack import centred, misaligned_sections, random_affines
    import cv2
    if os.path.exists(os.path.join(directory, "truth.json")):
        return
    os.makedirs(directory, exist_ok=True)
    truth = [centred(m, size) for m in random_affines(SECTIONS, SEED, anisotropy=0.02, shear_deg=1.0)]
    for z, image in enumerate(misaligned_sections(size, truth, SEED)):
        cv2.imwrite(os.path.join(directory, f"img{z:05d}.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    with open(os.path.join(directory, "truth.json"), "w") as f:
        json.dump([m.tolist() for m in truth], f)


def child_generate(arg: str) -> dict:
    size, directory = arg.split(":", 1)
    write_sections(directory, int(size))
    return {}


def _load(directory: str, z: int) -> np.ndarray:
    from emcore.images import decode_png
    path = os.path.join(directory, f"img{z:05d}.png")
    with open(path, "rb") as f:
        return decode_png(f.read(), path)


def _error(directory: str, z: int, w: int, matrix) -> float:
    from functions.align import models
    with open(os.path.join(directory, "truth.json")) as f:
        truth = [np.asarray(m) for m in json.load(f)]
    true = models.compose(truth[w], models.invert(truth[z]))
    h, wd = _load_shape(directory)
    corners = np.array([[0, 0], [wd, 0], [0, h], [wd, h]], np.float64)
    return float(np.abs(models.apply(np.asarray(matrix), corners) - models.apply(true, corners)).max())


def _load_shape(directory: str) -> tuple[int, int]:
    from emcore.images import read_png_header
    from emcore.storage import open_storage
    header = read_png_header(open_storage(directory), "img00000.png")
    return header.height, header.width


def child_emctl(directory: str) -> dict:
    import cv2  # noqa: F401  (loaded before "idle", as in the OpenCV child)
    from functions.align.pairwave import Preparer, match_run
    idle = _rss_mb()
    start, cpu = time.perf_counter(), time.process_time()
    preparer = Preparer(lambda z: _load(directory, z), FACTOR)
    (_, _, results), = list(match_run([0], lambda z: [1, 2], preparer))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    errors = [_error(directory, r.z, r.w, r.matrix) for r in results if r.matrix is not None]
    return {"seconds": seconds, "cpu": cpu, "pairs": len(results), "peak_mb": _rss_mb(), "idle_mb": idle,
            "factor": preparer.get(0).medium.factor, "err": max(errors) if errors else None,
            "inliers": [r.inliers for r in results]}


def child_opencv(directory: str) -> dict:
    """Adjacent pairs 0-1 and 1-2, each section's features found once (3 SIFT runs for 2 pairs,
    as in the emctl task), the sections shrunk to the same working scale."""
    import cv2
    from functions.align.prepare import factor_for
    idle = _rss_mb()
    start, cpu = time.perf_counter(), time.process_time()
    sift = cv2.SIFT_create()
    features, f = [], 1
    for z in range(SECTIONS):
        image = _load(directory, z)
        f = factor_for(image.shape, 2048)
        if f > 1:
            image = cv2.resize(image, (image.shape[1] // f, image.shape[0] // f), interpolation=cv2.INTER_AREA)
        features.append(sift.detectAndCompute(image, None))
        del image
    errors, inliers = [], []
    for z in (0, 1):
        (ka, da), (kb, db) = features[z], features[z + 1]
        good = [m for m, n in cv2.BFMatcher(cv2.NORM_L2).knnMatch(da, db, k=2) if m.distance < 0.8 * n.distance]
        src = (np.float32([ka[m.queryIdx].pt for m in good]) + 0.5) * f - 0.5
        dst = (np.float32([kb[m.trainIdx].pt for m in good]) + 0.5) * f - 0.5
        matrix, mask = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0 * f)
        errors.append(_error(directory, z, z + 1, matrix))
        inliers.append(int(mask.sum()))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"seconds": seconds, "cpu": cpu, "pairs": 2, "peak_mb": _rss_mb(), "idle_mb": idle, "factor": f,
            "err": max(errors), "inliers": inliers}


def child_solve(sections: str) -> dict:
    """The solve on synthetic correspondences (200 per pair, the default partners: reach 2 and the
    anchors)."""
    from functions.align import models
    from functions.align.options import OPTIONS, partners
    from functions.align.solve import PairData, solve
    options = OPTIONS.validate({})
    n = int(sections)
    rng = np.random.default_rng(0)
    truth = [np.hstack([np.eye(2) + rng.normal(0, 0.01, (2, 2)), rng.uniform(-10, 10, (2, 1))]) for _ in range(n)]
    pairs = []
    for z in range(n):
        for w in partners(z, n - 1, options["reach"], options["anchors"]):
            x = rng.uniform(0, 2048, (200, 2))
            pairs.append(PairData(z, w, models.apply(truth[z], x) + rng.normal(0, 0.1, x.shape),
                                  models.apply(truth[w], x) + rng.normal(0, 0.1, x.shape), 0.15))
    idle = _rss_mb()
    start = time.perf_counter()
    solve({z: (2048, 2048) for z in range(n)}, pairs)
    return {"seconds": time.perf_counter() - start, "peak_mb": _rss_mb(), "idle_mb": idle, "pairs": len(pairs)}


def _run_child(*args: str) -> dict:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-m", "bench.align", "--child", *args], cwd=root,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"bench child {args} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.align", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2048,8192", help="section sizes in pixels, comma-separated")
    parser.add_argument("--data", default="bench-data/align", help="where the sample sections are kept")
    parser.add_argument("--solve", type=int, default=1000, help="sections in the timed solve (0: skip)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, arg = args.child
        result = {"emctl": child_emctl, "opencv": child_opencv, "solve": child_solve, "generate": child_generate}[kind](arg)
        print(json.dumps(result))
        return 0
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        directory = os.path.abspath(os.path.join(args.data, str(size)))
        print(f"preparing {SECTIONS} sections of {size} x {size} px in {directory} ...", file=sys.stderr)
        _run_child("generate", f"{size}:{directory}")      # in a child: the parent stays small
        for method in ("emctl", "opencv"):
            print(f"  {method} at {size} px ...", file=sys.stderr)
            r = _run_child(method, directory)
            rows.append((size, method, r))
    print()
    print("per section pair: wall seconds, CPU seconds (all threads), ratio of wall seconds to OpenCV's;")
    print("per task: peak resident MB (idle: the same process before reading any section)")
    print(f"{'size':>6}  {'method':<8}{'f':>3}{'wall s':>8}{'cpu s':>8}{'ratio':>7}{'peak MB':>9}{'idle MB':>9}{'err px':>8}  inliers")
    for size, method, r in rows:
        plain = next(x for s, m, x in rows if s == size and m == "opencv")
        per_pair = r["seconds"] / r["pairs"]
        ratio = per_pair / (plain["seconds"] / plain["pairs"])
        err = "-" if r["err"] is None else f"{r['err']:.2f}"
        print(f"{size:>6}  {method:<8}{r['factor']:>3}{per_pair:>8.2f}{r['cpu'] / r['pairs']:>8.2f}{ratio:>7.2f}"
              f"{r['peak_mb']:>9.0f}{r['idle_mb']:>9.0f}{err:>8}  {r['inliers']}")
    if args.solve:
        r = _run_child("solve", str(args.solve))
        print(f"\nsolve: {args.solve} sections, {r['pairs']} pairs x 200 correspondences: "
              f"{r['seconds']:.2f} s, peak {r['peak_mb']:.0f} MB (idle {r['idle_mb']:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
