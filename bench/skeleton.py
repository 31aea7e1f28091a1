"""Benchmark of the skeleton stage (not a test): throughput next to igneous' skeleton forge +
merge on the same segmentation, cores and TEASAR parameters; quality of both; peak memory per task.

    .venv/bin/python -m bench.skeleton [--size 256] [--chunk 128] [--repeat 2] [--quick] [--workers N]

* emctl: the skeleton stage (chunk wave, merge wave per shard, tidy) with LocalRunner on all cores.
* igneous: `create_skeletonizing_tasks` (sharded=True, kimimaro per chunk with one voxel of
  overlap, its spatial index) then `create_sharded_skeleton_merge_tasks` (tick_threshold 0, as
  emctl trims no ticks), each through LocalTaskQueue(parallel=cores).

Both read the same compressed_segmentation volume (a copy each, as both edit its info): cells of
EM-like neuropil (emtest/mesh_data.py). Each tool's time is the fastest of `repeat` runs. Quality,
read back with CloudVolume: objects with a skeleton, those that are one connected tree, and the
median and worst ratio of path length to kimimaro's on the whole volume in one piece. Peak memory
per task: every task of each tool run one after another in a fresh process, the kernel's
high-water mark reset before each, so what is reported is one task's own peak.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

RES = (8, 8, 8)
TEASAR = {"scale": 4, "const": 500}
DUST = 1000


def make_data(root: str, size: int, seed: int = 0) -> np.ndarray:
    from emtest.mesh_data import cells, write_segmentation
    labels = cells((size,) * 3, n=max(20, size ** 3 // 48 ** 3), seed=seed)
    for name in ("emctl/segmentation", "igneous"):
        write_segmentation(f"file://{root}/{name}", labels, RES, chunk=(64, 64, 64))
    return labels


def emctl_job(root: str, chunk: int):
    from emcore.job import load_job
    return load_job({"id": "bench-skeleton", "dest": f"{root}/emctl", "resolution": list(RES),
                     "stages": {"skeleton": {"block": [chunk] * 3, "teasar_params": TEASAR, "dust_threshold": DUST}}})


def run_emctl(root: str, chunk: int, workers: int) -> float:
    from emcore.storage import open_storage
    from orchestrator import engine
    from orchestrator.local import LocalRunner
    job = emctl_job(root, chunk)
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    started = time.perf_counter()
    LocalRunner(job, store, workers=workers).run()
    return time.perf_counter() - started


def igneous_tasks(path: str, chunk: int, wave: str):
    import igneous.task_creation as tc
    if wave == "forge":
        return list(tc.create_skeletonizing_tasks(path, mip=0, shape=(chunk,) * 3, teasar_params=TEASAR,
                                                  dust_threshold=DUST, sharded=True, spatial_index=True))
    return list(tc.create_sharded_skeleton_merge_tasks(path, dust_threshold=DUST, tick_threshold=0))


def run_igneous(root: str, chunk: int, workers: int) -> float:
    from taskqueue import LocalTaskQueue
    path = f"file://{root}/igneous"
    started = time.perf_counter()
    for wave in ("forge", "merge"):
        queue = LocalTaskQueue(parallel=workers, progress=False)
        queue.insert(igneous_tasks(path, chunk, wave))
        queue.execute(progress=False)
    return time.perf_counter() - started


def quality(url: str, whole: dict) -> dict:
    """Objects with a skeleton, how many are one tree, path length / kimimaro whole (median, worst)."""
    from cloudvolume import CloudVolume

    from emtest.skeletons import is_tree, path_length
    cv = CloudVolume(url, progress=False)
    trees, ratios = 0, []
    for oid, reference in whole.items():
        try:
            skel = cv.skeleton.get(oid)
        except Exception:          # CloudVolume raises for an id the shards do not hold
            continue
        v, e = skel.vertices.astype(np.float64), skel.edges.astype(np.int64)
        if len(v) == 0:
            continue
        trees += is_tree(v, e)
        ratios.append(path_length(v, e) / path_length(reference.vertices.astype(np.float64), reference.edges))
    ratios = np.array(ratios) if ratios else np.array([np.nan])
    return {"objects": len(ratios), "trees": trees, "median": float(np.median(ratios)),
            "worst": float(ratios[np.argmax(np.abs(ratios - 1))])}


# -- peak memory per task, in a fresh process ------------------------------------------------------
def _hwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_hwm() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def probe(tool: str, root: str, chunk: int) -> None:
    """Run every task of `tool` one after another here, printing each wave's largest task peak."""
    peaks: dict[str, float] = {}
    if tool == "emctl":
        from emcore.storage import open_storage
        from functions.skeleton import stage as skeleton_stage
        from orchestrator import engine
        from orchestrator.local import LocalRunner

        def measured(original):
            def run(self, ctx, task):
                _reset_hwm()
                out = original(self, ctx, task)
                peaks[ctx.wave] = max(peaks.get(ctx.wave, 0.0), _hwm_mb())
                return out
            return run
        for wave in (skeleton_stage.Blocks, skeleton_stage.Merge):
            wave.run = measured(wave.run)
        job = emctl_job(root, chunk)
        store = open_storage(job.dest)
        engine.submit_job(store, job)
        LocalRunner(job, store, workers=0).run()
    else:
        for wave in ("forge", "merge"):
            for task in igneous_tasks(f"file://{root}/igneous", chunk, wave):
                _reset_hwm()
                task.execute() if hasattr(task, "execute") else task()
                peaks[wave] = max(peaks.get(wave, 0.0), _hwm_mb())
    print(json.dumps(peaks))


def probe_in_subprocess(tool: str, root: str, chunk: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.skeleton", "--probe", tool, "--root", root, "--chunk", str(chunk)],
                         capture_output=True, text=True, cwd=HERE)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--chunk", type=int, default=128)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each tool; the fastest counts")
    parser.add_argument("--quick", action="store_true", help="128^3 voxels, 64^3 chunks, one run")
    parser.add_argument("--probe", choices=("emctl", "igneous"))
    parser.add_argument("--root")
    args = parser.parse_args()
    if args.probe:
        probe(args.probe, args.root, args.chunk)
        return
    if args.quick:
        args.size, args.chunk, args.repeat = 128, 64, 1
    import kimimaro

    from bench.measure import best_of
    root = os.path.abspath(os.path.join(HERE, "bench-data", "skeleton"))
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    labels = make_data(root, args.size)
    print(f"segmentation {args.size}^3 at {RES} nm, {len(np.unique(labels)) - 1} objects; chunks {args.chunk}^3; "
          f"TEASAR {TEASAR}, dust {DUST}; {args.workers} workers", flush=True)
    runs = {"emctl": run_emctl, "igneous": run_igneous}
    seconds, cpu, walls = {t: np.inf for t in runs}, {}, {t: [] for t in runs}
    for attempt in range(args.repeat):   # best of `repeat`: other work on the machine only slows
        if attempt:
            for tool in runs:
                shutil.rmtree(f"{root}/{tool}", ignore_errors=True)
            make_data(root, args.size)
        for tool, run in runs.items():
            wall, used, _ = best_of(1, lambda _: run(root, args.chunk, args.workers))
            walls[tool].append(wall)
            if wall < seconds[tool]:
                seconds[tool], cpu[tool] = wall, used
    whole = kimimaro.skeletonize(labels, teasar_params=TEASAR, anisotropy=RES, dust_threshold=DUST,
                                 fix_branching=True, progress=False)
    urls = {"emctl": f"file://{root}/emctl/segmentation", "igneous": f"file://{root}/igneous"}
    rows = {tool: quality(urls[tool], whole) for tool in runs}
    for tool in runs:   # fresh copies: each probe runs its tool's whole job again
        shutil.rmtree(f"{root}/{tool}", ignore_errors=True)
    make_data(root, args.size)
    memory = {tool: probe_in_subprocess(tool, root, args.chunk) for tool in runs}

    mvox = labels.size / 1e6
    print(f"\nwall seconds of every run: {walls}; load average {os.getloadavg()[0]:.1f}; "
          f"kimimaro whole: {len(whole)} objects")
    print("\n| tool | seconds | CPU s | Mvoxel/s | x igneous (wall, CPU) | objects | one tree | path / whole (median, worst) | peak MB/task (block, merge) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for tool in runs:
        r, m = rows[tool], list(memory[tool].values())
        print(f"| {tool} | {seconds[tool]:.1f} | {cpu[tool]:.1f} | {mvox / seconds[tool]:.2f} | "
              f"{seconds['igneous'] / seconds[tool]:.2f}, {cpu['igneous'] / cpu[tool]:.2f} | "
              f"{r['objects']} | {r['trees']} | {r['median']:.3f}, {r['worst']:.3f} | "
              f"{', '.join(f'{x:.0f}' for x in m)} |")


if __name__ == "__main__":
    main()
