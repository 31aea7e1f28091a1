"""Benchmark of the mesh stage (not a test): throughput next to igneous on the same segmentation,
cores and error bound; quality of both outputs; peak memory per task.

    .venv/bin/python -m bench.mesh [--size 256] [--chunk 128] [--repeat 3] [--quick] [--workers N]

* emctl: the mesh stage (chunk wave + merge wave, `lods` levels, sharded multi-resolution Draco)
  with LocalRunner on all cores.
* igneous: its mesh forge tasks (`create_meshing_tasks`, sharded=True, zmesh marching cubes and
  simplification) then the sharded multi-resolution merge (`create_sharded_multires_mesh_tasks`),
  each through LocalTaskQueue(parallel=cores).

Each tool's time is the fastest of `repeat` runs. Both read the same compressed_segmentation volume
(a copy each, as both edit its info), with
`max_simplification_error` = `simplification_error`. Quality is read back with CloudVolume: level-0
triangles, objects whose level-0 mesh (fragments joined) is closed, and the largest distance to the
unsimplified marching-cubes surface over the largest objects. Peak memory per task: every task of
each tool run one after another in a fresh process, the kernel's high-water mark reset before
each (/proc/self/clear_refs), so what is reported is one task's own peak.
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


def make_data(root: str, size: int, seed: int = 0) -> np.ndarray:
    from emtest.mesh_data import cells, write_segmentation
    labels = cells((size,) * 3, n=max(20, size ** 3 // 48 ** 3), seed=seed)
    for name in ("emctl/segmentation", "igneous"):
        write_segmentation(f"file://{root}/{name}", labels, RES, chunk=(64, 64, 64))
    return labels


def run_emctl(root: str, chunk: int, error: float, lods: int, workers: int) -> float:
    from emcore.job import load_job
    from emcore.storage import open_storage
    from orchestrator import engine
    from orchestrator.local import LocalRunner
    job = load_job({"id": "bench-mesh", "dest": f"{root}/emctl", "resolution": list(RES),
                             "stages": {"mesh": {"block": [chunk] * 3, "simplification_error": error, "lods": lods}}})
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    started = time.perf_counter()
    LocalRunner(job, store, workers=workers).run()
    return time.perf_counter() - started


def igneous_tasks(path: str, chunk: int, error: float, wave: str, lods: int):
    import igneous.task_creation as tc
    if wave == "forge":
        return list(tc.create_meshing_tasks(path, mip=0, shape=(chunk,) * 3, sharded=True, simplification=True,
                                            max_simplification_error=error, progress=False))
    # igneous gives an object floor(log2(extent / min_chunk_size)) levels, at most `lods`: nodes
    # this small give the benchmark's ~50-voxel objects all `lods` levels, as emctl does (its
    # default, 256^3, gives them one).
    node = max(4, chunk // 2 ** (lods + 1))
    return list(tc.create_sharded_multires_mesh_tasks(path, num_lod=lods - 1, min_chunk_size=(node,) * 3,
                                                      progress=False))


def run_igneous(root: str, chunk: int, error: float, lods: int, workers: int) -> float:
    from taskqueue import LocalTaskQueue
    path = f"file://{root}/igneous"
    started = time.perf_counter()
    for wave in ("forge", "merge"):
        queue = LocalTaskQueue(parallel=workers, progress=False)
        queue.insert(igneous_tasks(path, chunk, error, wave, lods))
        queue.execute(progress=False)
    return time.perf_counter() - started


def quality(url: str, labels: np.ndarray, ids: list[int], largest: list[int]) -> dict:
    """Level-0 triangles, closed objects, and the distance to the unsimplified surface."""
    import zmesh
    from cloudvolume import CloudVolume

    from emtest.mesh import edge_face_counts, hausdorff, joined
    cv = CloudVolume(url, progress=False)
    meshes = cv.mesh.get(ids, lod=0, allow_missing=True)
    closed, triangles = 0, 0
    for i in ids:
        if i not in meshes:
            continue
        points, faces = joined(meshes[i], RES)
        triangles += len(faces)
        closed += bool((edge_face_counts(faces) == 2).all())
    mesher = zmesh.Mesher(RES)
    mesher.mesh(np.pad(labels, 1), close=False)
    worst = 0.0
    for i in largest:
        exact = mesher.get(i, normals=False, reduction_factor=0)
        reference = ((exact.vertices.astype(np.float64) - 0.5 * np.array(RES)), exact.faces.astype(np.int64))
        worst = max(worst, hausdorff(reference, joined(meshes[i], RES), 4.0))
    return {"objects": len(meshes), "triangles": triangles, "closed": closed, "distance": worst,
            "lods": int(cv.mesh.get_manifest(largest[0]).num_lods)}


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


def probe(tool: str, root: str, chunk: int, error: float, lods: int) -> None:
    """Run every task of `tool` one after another here, printing each wave's largest task peak."""
    peaks: dict[str, float] = {}
    if tool == "emctl":
        from emcore.job import load_job
        from emcore.storage import open_storage
        from functions.mesh import stage as mesh_stage
        from orchestrator import engine
        from orchestrator.local import LocalRunner
        def measured(original):
            def run(self, ctx, task):
                _reset_hwm()
                out = original(self, ctx, task)
                peaks[ctx.wave] = max(peaks.get(ctx.wave, 0.0), _hwm_mb())
                return out
            return run
        for wave in (mesh_stage.Blocks, mesh_stage.Merge, mesh_stage.Tidy):
            wave.run = measured(wave.run)
        job = load_job({"id": "probe", "dest": f"{root}/emctl", "resolution": list(RES),
                                 "stages": {"mesh": {"block": [chunk] * 3, "simplification_error": error, "lods": lods}}})
        store = open_storage(job.dest)
        engine.submit_job(store, job)
        LocalRunner(job, store, workers=0).run()
    else:
        for wave in ("forge", "merge"):
            for task in igneous_tasks(f"file://{root}/igneous", chunk, error, wave, lods):
                _reset_hwm()
                task.execute() if hasattr(task, "execute") else task()
                peaks[wave] = max(peaks.get(wave, 0.0), _hwm_mb())
    print(json.dumps(peaks))


def probe_in_subprocess(tool: str, root: str, chunk: int, error: float, lods: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.mesh", "--probe", tool, "--root", root, "--chunk", str(chunk),
                          "--error", str(error), "--lods", str(lods)], capture_output=True, text=True, cwd=HERE)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--chunk", type=int, default=128)
    parser.add_argument("--error", type=float, default=40.0)
    parser.add_argument("--lods", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tool; the fastest counts")
    parser.add_argument("--quick", action="store_true", help="128^3 voxels, 64^3 chunks, one run")
    parser.add_argument("--probe", choices=("emctl", "igneous"))
    parser.add_argument("--root")
    args = parser.parse_args()
    if args.probe:
        probe(args.probe, args.root, args.chunk, args.error, args.lods)
        return
    if args.quick:
        args.size, args.chunk, args.repeat = 128, 64, 1
    root = os.path.abspath(os.path.join(HERE, "bench-data", "mesh"))
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    labels = make_data(root, args.size)
    ids, counts = np.unique(labels[labels > 0], return_counts=True)
    ids = [int(i) for i in ids]
    largest = [int(i) for i in np.unique(labels[labels > 0], return_counts=True)[0][np.argsort(-counts)[:5]]]
    print(f"segmentation {args.size}^3 at {RES} nm, {len(ids)} objects; chunks {args.chunk}^3; error "
          f"{args.error:g} nm; {args.lods} levels; {args.workers} workers", flush=True)

    from bench.measure import best_of
    runs = {"emctl": run_emctl, "igneous": run_igneous}
    seconds, cpu, walls = {"emctl": np.inf, "igneous": np.inf}, {}, {"emctl": [], "igneous": []}
    for attempt in range(args.repeat):   # best of `repeat`: other work on the machine only slows
        if attempt:
            for tool in seconds:
                shutil.rmtree(f"{root}/{tool}", ignore_errors=True)
            make_data(root, args.size)
        for tool, run in runs.items():
            wall, used, _ = best_of(1, lambda _: run(root, args.chunk, args.error, args.lods, args.workers))
            walls[tool].append(wall)
            if wall < seconds[tool]:
                seconds[tool], cpu[tool] = wall, used
    from bench.throughput import record
    from emcore.storage import open_storage
    record(open_storage(f"{root}/emctl"), "mesh", f"{args.size}^3 segmentation, {len(ids)} objects, chunks "
           f"{args.chunk}^3, {args.lods} levels, {args.workers} workers")
    urls = {"emctl": f"file://{root}/emctl/segmentation", "igneous": f"file://{root}/igneous"}
    rows = {tool: quality(urls[tool], labels, ids, largest) for tool in seconds}
    for tool in ("emctl", "igneous"):   # fresh copies: each probe runs its tool's whole job again
        shutil.rmtree(f"{root}/{tool}", ignore_errors=True)
    make_data(root, args.size)
    memory = {tool: probe_in_subprocess(tool, root, args.chunk, args.error, args.lods) for tool in seconds}

    mvox = labels.size / 1e6
    print(f"\nwall seconds of every run: {walls}; load average {os.getloadavg()[0]:.1f}")
    print("\n| tool | seconds | CPU s | Mvoxel/s | x igneous (wall, CPU) | objects | closed | LOD0 triangles | max distance (nm) | levels | peak MB/task (block, merge) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for tool in ("emctl", "igneous"):
        r, m = rows[tool], list(memory[tool].values())
        print(f"| {tool} | {seconds[tool]:.1f} | {cpu[tool]:.1f} | {mvox / seconds[tool]:.2f} | "
              f"{seconds['igneous'] / seconds[tool]:.2f}, {cpu['igneous'] / cpu[tool]:.2f} | "
              f"{r['objects']} | {r['closed']} | {r['triangles']} | {r['distance']:.1f} | {r['lods']} | "
              f"{', '.join(f'{x:.0f}' for x in m)} |")


if __name__ == "__main__":
    main()
