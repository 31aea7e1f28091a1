"""Benchmark of the cc stage (not a test): throughput next to the field's reference tools in the
same run on the same cores, peak memory per task for two volume sizes, and the merge with more
than a million segments (bench/cc_merge.py).

    .venv/bin/python -m bench.cc [--size 512] [--quick] [--workers N]

* cc3d on the whole volume in memory (one core, no I/O): the speed limit of the labelling itself.
* emctl's cc stage, LocalRunner with all cores: read the descriptor, label, merge, remap, and write
  the sharded compressed_segmentation at every scale, segments.csv and segment properties.
* igneous' CCL (faces, equivalences, relabelling, relabel tasks) with LocalTaskQueue(parallel=
  cores): 6-connected only; it writes scale 0 only, compresso-encoded (its default; compressed_
  segmentation is refused for the uint8/uint16 labels it picks), no downsampled scales, no statistics.

Peak memory per task is measured by running every task of a job, one after another, in a fresh
process that resets the kernel's high-water mark before each task: with the block shape and the
blocks per merge task fixed, it should not grow with the volume. (A pool worker's ru_maxrss would
not do: a spawned child starts with its parent's high-water mark, the bench's own arrays.)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from bench.measure import best_of

THRESHOLD = 127   # emctl: value > 127; igneous: value >= 128


def make_descriptor(url: str, size: int, seed: int = 0) -> np.ndarray:
    """A smooth random uint8 field whose top ~10% form blobs of all sizes, many across blocks
    (like cleft or organelle predictions), written as raw precomputed with TensorStore."""
    import tensorstore as ts
    from scipy import ndimage
    rng = np.random.default_rng(seed)
    coarse = ndimage.gaussian_filter(rng.standard_normal((size // 4,) * 3), 1.0)
    coarse = np.clip((coarse - np.quantile(coarse, 0.9)) * 200 / coarse.std() + 128, 0, 255)
    vol = ndimage.zoom(coarse.astype(np.uint8), 4, order=1, output=np.uint8)
    spec = {"driver": "neuroglancer_precomputed", "kvstore": url,
            "multiscale_metadata": {"type": "image", "data_type": "uint8", "num_channels": 1},
            "scale_metadata": {"size": [size] * 3, "resolution": [8, 8, 8], "voxel_offset": [0, 0, 0],
                               "chunk_size": [64, 64, 64], "encoding": "raw"}}
    ts.open(spec, create=True, delete_existing=True).result()[..., 0].write(vol).result()
    return vol


def run_emctl(dest: str, descriptor: str, connectivity: int, block: int, workers: int,
              nummergetasks: int = 1) -> str:
    """Run the job; returns the segmentation's URL."""
    from emcore.job import load_job
    from emcore.precomputed import Precomputed
    from emcore.storage import open_storage
    from orchestrator import engine
    from orchestrator.local import LocalRunner
    job = load_job({"id": "bench-cc", "dest": dest, "stages": {"cc": {
        "descriptor": descriptor, "ccthresh": THRESHOLD, "connectivity": connectivity,
        "block": [block] * 3, "chunk": [min(64, block // 2)] * 3,
        "nummergetasks": nummergetasks}}})
    store = open_storage(dest)
    engine.submit_job(store, job)
    stats = LocalRunner(job, store, workers=workers).run()
    if any(s.failed for s in stats.values()):
        raise RuntimeError(f"emctl cc failed: {stats}")
    return store.url + "segmentation/"


def run_igneous(src: str, dest: str, block: int, workers: int) -> str:
    """Igneous' four CCL steps, as its `igneous image ccl auto` runs them; returns `dest`."""
    import igneous.task_creation as tc
    import igneous.tasks.image.ccl as ccl
    from taskqueue import LocalTaskQueue
    shape = (block,) * 3
    for create in (tc.create_ccl_face_tasks, tc.create_ccl_equivalence_tasks):
        tq = LocalTaskQueue(parallel=workers, progress=False)
        tq.insert(create(src, 0, shape, threshold_gte=THRESHOLD + 1))
        tq.execute(progress=False)
    ccl.create_relabeling(src, 0, shape)
    tq = LocalTaskQueue(parallel=workers, progress=False)
    tq.insert(tc.create_ccl_relabel_tasks(src, dest, 0, shape, chunk_size=(64, 64, 64),
                                          encoding="compresso", threshold_gte=THRESHOLD + 1))
    tq.execute(progress=False)
    return dest


def segment_count(url: str) -> int:
    from cloudvolume import CloudVolume
    cv = CloudVolume(url, progress=False, fill_missing=True)
    return len(np.unique(cv[cv.bounds])) - 1


def probe_memory(descriptor: str, block: int) -> dict:
    """Per-wave peak memory of the tasks of a cc job, measured in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-m", "bench.cc", "--probe", descriptor, str(block)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rss_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field)) / 1024


def _probe(descriptor: str, block: int) -> None:
    """Run every task of the job one after another in this process, resetting the kernel's
    high-water mark before each (/proc/self/clear_refs "5"), so each task's own peak is seen."""
    from emcore.job import load_job
    from emcore.precomputed import Precomputed
    from emcore.storage import open_storage
    from emtest import inprocess
    from functions.cc.layout import parse_wave
    from functions.cc.stage import STAGE
    peaks: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        size = Precomputed.read(descriptor).scale(0).size
        blocks = int(np.prod([-(-n // block) for n in size]))
        job = load_job({"id": "probe", "dest": tmp, "stages": {"cc": {
            "descriptor": descriptor, "ccthresh": THRESHOLD, "block": [block] * 3,
            "chunk": [min(64, block // 2)] * 3,
            # Eight blocks per merge task whatever the volume: each task's share stays the same.
            "nummergetasks": max(1, blocks // 8)}}})
        store = open_storage(tmp)
        done = 0
        while done < len(waves := STAGE.waves(job, store)):   # the first plan fixes the rest
            wave = waves[done]
            for task, params in enumerate(inprocess.plan(STAGE, job, store, wave)):
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")
                before = _rss_mb("VmRSS")
                inprocess.run(STAGE, job, store, wave, task, params)
                peak = peaks.setdefault(parse_wave(wave)[0], [0.0, 0.0, 0])
                peak[0] = max(peak[0], _rss_mb("VmHWM"))
                peak[1] = max(peak[1], _rss_mb("VmHWM") - before)
                peak[2] += 1
            done += 1
    print(json.dumps({"size": size, "blocks": blocks, "waves": peaks}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512, help="edge of the cubic descriptor, voxels")
    parser.add_argument("--quick", action="store_true", help="small volumes and merge (a smoke run)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="worker processes")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of each tool; the fastest counts (other load on the machine only slows runs down)")
    parser.add_argument("--probe", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        return _probe(args.probe[0], int(args.probe[1]))
    size = 128 if args.quick else args.size
    block = min(256, size // 2)
    workers = args.workers
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        desc = f"file://{tmp}/desc/"
        vol = make_descriptor(desc, size)
        mvox = vol.size / 1e6
        import cc3d

        from bench.throughput import record
        from emcore.storage import open_storage
        for connectivity in (26, 6):
            seconds, cpu, n = best_of(args.repeat, lambda _: cc3d.connected_components(
                vol > THRESHOLD, connectivity=connectivity, return_N=True)[1])
            rows.append(("cc3d, whole volume in memory, 1 core", connectivity, seconds, cpu, n))
        for connectivity in (26, 6):
            seconds, cpu, dest = best_of(args.repeat, lambda i: run_emctl(
                f"{tmp}/emctl{connectivity}.{i}", desc, connectivity, block, workers))
            rows.append((f"emctl cc, {workers} workers, all scales", connectivity, seconds, cpu, segment_count(dest)))
            if connectivity == 26:
                record(open_storage(f"{tmp}/emctl26.0"), "cc", f"{size}^3 uint8 descriptor, 26-connected, "
                       f"block {block}^3, {workers} workers")
        seconds, cpu, dest = best_of(args.repeat, lambda i: run_igneous(
            desc, f"file://{tmp}/igneous{i}", block, workers))
        rows.append((f"igneous CCL, parallel={workers}, scale 0 only", 6, seconds, cpu, segment_count(dest)))
    del vol

    print(f"\ncc throughput: {size}^3 uint8 descriptor ({mvox:.0f} Mvoxels), block {block}^3, "
          f"{workers} cores")
    print(f"{'tool':<44s} {'conn':>4s} {'seconds':>8s} {'Mvox/s':>8s} {'CPU s':>7s} {'Mvox/CPU-s':>11s} {'segments':>9s}")
    for name, connectivity, seconds, cpu, n in rows:
        print(f"{name:<44s} {connectivity:>4d} {seconds:8.2f} {mvox / seconds:8.1f} {cpu:7.2f} {mvox / cpu:11.1f} {n:>9d}")
    cc3d26, emctl26, emctl6, igneous6 = rows[0], rows[2], rows[3], rows[4]
    print(f"emctl / igneous CCL (6-connected): {igneous6[2] / emctl6[2]:.2f}x wall, {igneous6[3] / emctl6[3]:.2f}x CPU "
          f"(target >= 2x); 26-connected emctl: {igneous6[2] / emctl26[2]:.2f}x wall")
    # Per core: emctl's throughput divided by its worker count, against cc3d's on its one core.
    print(f"emctl per core / cc3d on one core (26-connected): {cc3d26[2] / (emctl26[2] * workers):.0%} by wall, "
          f"{cc3d26[3] / emctl26[3]:.0%} by CPU (target >= 50%); load average {os.getloadavg()[0]:.1f}")

    sizes = (64, 128) if args.quick else (size // 2, size)
    probe_block = sizes[0] // 2
    probes = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in sizes:
            make_descriptor(f"file://{tmp}/{s}/", s, seed=1)
            probes.append(probe_memory(f"file://{tmp}/{s}/", probe_block))
    print(f"\npeak memory per task, block {probe_block}^3, 8 blocks per merge task: largest "
          f"resident set of any task of the wave / largest growth during one task, MB")
    heads = [f"{s}^3, {p['blocks']} blocks" for s, p in zip(sizes, probes)]
    print(f"{'wave':<12s}" + "".join(f"{h:>26s}" for h in heads))
    for kind in probes[-1]["waves"]:
        cells = []
        for p in probes:
            peak, growth, tasks = p["waves"].get(kind, (0, 0, 0))
            cells.append(f"{peak:.0f} / {growth:.0f} ({tasks} tasks)")
        print(f"{kind:<12s}" + "".join(f"{c:>26s}" for c in cells))

    from bench import cc_merge
    title, steps = cc_merge.run(150_000 if args.quick else 1_500_000)
    print(f"\nmerge: {title}")
    for name, seconds in steps:
        print(f"  {name:<60s} {seconds:7.2f} s")


if __name__ == "__main__":
    main()
