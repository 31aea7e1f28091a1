"""Pyramid benchmark: emctl's whole local run (render + pyramid waves) next to igneous building the
same pyramid on the same cores, and next to this machine's bound for the same pixels (PNG decode
plus JPEG encode alone), in MB/s of input pixels.

    python -m bench.pyramid [--size 2048] [--sections 512] [--workers N] [--quick] [--data bench-data/pyramid]
    python bench/pyramid.py ...               (the same)

Defaults: 2048 x 2048 x 512 uint8 (2.1 GB of pixels), all cores; BENCH_PYRAMID_SIZE and
BENCH_PYRAMID_SECTIONS override them; --quick is a 512 x 512 x 128 smoke run.

The stack is the EM-like sample (orchestrator.samplestack.write_stack, written in batches of
sections so memory stays small), kept under --data between runs with the raw precomputed copy
igneous starts from. Each contender runs in its own process tree; a sampler (psutil) records
every process's peak resident memory and CPU time.

  emctl    `emctl start --config job.json` on the PNGs, the pyramid stage with its defaults
           (block 1024, chunk 64^3, JPEG quality 90) and raw=false, --workers N. Timed from
           launch to exit: render wave (PNG decode, tiles write) and pyramid waves (tiles read,
           downsample, JPEG encode, shard write).
  igneous  its DownsampleTasks (create_downsampling_tasks, factor 2x2x2, JPEG quality 90, chunk
           64^3, memory target and so task shape its default) run by LocalTaskQueue(parallel=N),
           from an unsharded raw precomputed copy of the same stack (chunk 64^3; written
           beforehand by CloudVolume, not in this row). Passes are repeated from the top mip while
           igneous still makes mips; what it made is printed. It does not re-encode mip 0 (it
           stays raw), and it decodes no PNG.
  volume   `emctl start` with `stages.pyramid.volume` on igneous' input layer below (no render): the
           same pyramid as the emctl row, mip 0 re-chunked, sharded and JPEG-encoded, from chunks
           instead of PNGs; run on each round's fresh layer, before igneous adds mips to it.
  ingest+ign  the copy's ingest (timed separately) plus the igneous row: igneous end to end from
           the same PNGs, still without a JPEG mip 0. The ingest decodes with libspng (pyspng),
           as emctl and the bound do: the decoder is not what is compared.
  bound    (bench/pyramid_bound.py) a process pool of N: emctl's PNG decoding (emcore/images.py) of every section, then
           JPEG encoding (simplejpeg,
           libjpeg-turbo as TensorStore's encoder, quality 90) of every 64^3 chunk of scale 0,
           laid out as Neuroglancer's JPEG chunks (64 x 4096 images). Nothing is written. Its
           workers keep freed memory as emctl's do (emcore/allocator.py).

Before each contender the disk is left to settle (deleting the previous output keeps a disk
mounted with `discard` busy for seconds) and the PNGs are read once, so that every contender
that reads them finds them in the page cache.

"CPU s" is user+system time of the whole process tree: on a shared machine, MB per CPU-second
is the load-independent figure. "peak/task" is the largest resident memory of one worker
process while it ran pyramid tasks (for emctl: during the pyramid waves only), interpreter and
libraries included.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

if __package__ in (None, ""):  # run as `python bench/pyramid.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

from bench.measure import run_tree
from emcore.jobroot import started_key

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHUNK = 64
QUALITY = 90
RESOLUTION = [8, 8, 8]
PATTERN = "img%05d.png"


# ---------------------------------------------------------------------------------------- data

def _batch(args) -> None:
    """Sections [z0, z0+n) of the stack: the sample generator run for n sections (seed per batch),
    renamed to their place in the stack."""
    directory, size, z0, n = args
    from orchestrator.samplestack import write_stack
    tmp = tempfile.mkdtemp(prefix=f".batch{z0}-", dir=directory)
    try:
        write_stack(tmp, size, n, seed=1000 + z0)
        for i in range(n):
            os.replace(os.path.join(tmp, PATTERN % i), os.path.join(directory, PATTERN % (z0 + i)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_stack(directory: str, size: int, sections: int, workers: int) -> None:
    done = os.path.join(directory, "complete.json")
    if os.path.exists(done):
        return
    os.makedirs(directory, exist_ok=True)
    batch = int(max(4, min(64, 32 * (2048 / size) ** 2)))  # ~1 GB of float fields per batch
    todo = [(directory, size, z0, min(batch, sections - z0)) for z0 in range(0, sections, batch)
            if not all(os.path.exists(os.path.join(directory, PATTERN % z))
                       for z in range(z0, min(z0 + batch, sections)))]
    print(f"writing the sample stack {size}x{size}x{sections} to {directory} ({len(todo)} batches) ...", flush=True)
    t = time.time()
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_batch, todo))
    with open(done, "w") as f:
        json.dump({"size": size, "sections": sections}, f)
    print(f"  {time.time() - t:.0f} s", flush=True)


def _read_sections(directory: str, z0: int, z1: int) -> np.ndarray:
    """(z, y, x) uint8, decoded with libspng (pyspng, CloudVolume's own PNG decoder, and emctl's)."""
    import pyspng
    out = None
    for i, z in enumerate(range(z0, z1)):
        with open(os.path.join(directory, PATTERN % z), "rb") as f:
            image = pyspng.load(f.read())
        if out is None:
            out = np.empty((z1 - z0,) + image.shape, image.dtype)
        out[i] = image
    return out


def _ingest_slab(args) -> None:
    stack, layer, z0, z1 = args
    from cloudvolume import CloudVolume
    vol = CloudVolume(f"file://{layer}", mip=0, compress=False, progress=False)
    vol[:, :, z0:z1] = _read_sections(stack, z0, z1).transpose(2, 1, 0)


def ingest_child(stack: str, layer: str, size: int, sections: int, workers: int) -> None:
    """Runs in its own process: the stack into an unsharded raw precomputed layer, chunk 64^3, the
    way igneous' users bring a PNG stack in (CloudVolume, uncompressed, a slab of 64 sections per
    process)."""
    from cloudvolume import CloudVolume
    t0 = time.perf_counter()
    shutil.rmtree(layer, ignore_errors=True)
    info = CloudVolume.create_new_info(1, "image", "uint8", "raw", RESOLUTION, [0, 0, 0],
                                       [size, size, sections], chunk_size=[CHUNK] * 3)
    CloudVolume(f"file://{layer}", info=info, compress=False, progress=False).commit_info()
    slabs = [(stack, layer, z, min(z + CHUNK, sections)) for z in range(0, sections, CHUNK)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_ingest_slab, slabs))
    print(json.dumps({"seconds": time.perf_counter() - t0}))


def run_ingest(stack: str, layer: str, size: int, sections: int, workers: int) -> dict:
    wall, cpu, sampler, done = run_tree(_self_command("--child", "ingest", stack, layer, str(size), str(sections),
                                                      str(workers)), warm=stack)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(wall=result["seconds"], process_wall=wall, cpu=cpu, peak_task_mb=sampler.peak_worker())
    return result


def _self_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.pyramid", *args]


# ----------------------------------------------------------------------------------- emctl

def run_emctl(stack: str, out: str, size: int, sections: int, workers: int, volume: str | None = None) -> dict:
    """`volume`: the pyramid of that precomputed layer (`stages.pyramid.volume`) instead of the PNGs."""
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    config = {"id": "bench-pyramid", "source": os.path.abspath(stack), "dest": os.path.abspath(out),
              "maxz": sections - 1, "resolution": RESOLUTION, "stages": {"pyramid": {"raw": False}}}
    if volume:
        del config["source"], config["maxz"]
        config["stages"]["pyramid"]["volume"] = {"url": os.path.abspath(volume)}
    config_path = out.rstrip("/") + ".job.json"
    with open(config_path, "w") as f:
        json.dump(config, f)
    emctl = os.path.join(os.path.dirname(sys.executable), "emctl")
    command = [emctl] if os.path.exists(emctl) else [sys.executable, "-m", "orchestrator.cli.main"]
    started = os.path.join(out, started_key("pyramid.0"))
    phase = lambda: "pyramid" if os.path.exists(started) else "render"
    wall, cpu, sampler, done = run_tree(command + ["start", "--config", config_path, "--quiet",
                                                   "--workers", str(workers)], phase, warm=stack)
    waves = {}
    for line in done.stderr.splitlines():
        parts = line.split()
        if parts and (parts[0].startswith("align.") or parts[0].startswith("pyramid.")) and len(parts) >= 4:
            waves[parts[0]] = {"tasks": int(parts[1]), "time": parts[3]}
    with open(os.path.join(out, "image", "info")) as f:
        info = json.load(f)
    return {"wall": wall, "cpu": cpu, "peak_task_mb": sampler.peak_worker("pyramid"),
            "peak_render_mb": sampler.peak_worker("render"), "phase_cpu": sampler.phase_cpu,
            "waves": waves, "scales": [s["size"] for s in info["scales"]]}


# --------------------------------------------------------------------------------- igneous

def igneous_child(layer: str, workers: int) -> None:
    """Runs in its own process: igneous' downsampling, pass after pass, timed."""
    from cloudvolume import CloudVolume
    from taskqueue import LocalTaskQueue
    import igneous.task_creation as tc
    path = f"file://{layer}"
    passes = []
    t0 = time.perf_counter()
    while True:
        vol = CloudVolume(path, progress=False)
        top = len(vol.available_mips) - 1
        if all(s <= CHUNK for s in vol.meta.volume_size(top)):
            break
        tq = LocalTaskQueue(parallel=workers, progress=False)
        tasks = list(tc.create_downsampling_tasks(
            path, mip=top, fill_missing=False, factor=(2, 2, 2), chunk_size=(CHUNK,) * 3,
            encoding="jpeg", encoding_level=QUALITY, delete_black_uploads=False))
        made = len(CloudVolume(path, progress=False).available_mips) - 1 - top
        if not tasks or made == 0:
            passes.append({"from_mip": top, "mips": 0, "tasks": 0})
            break
        shape = tasks[0].keywords["shape"].tolist() if hasattr(tasks[0], "keywords") else None
        p0 = time.perf_counter()
        tq.insert(tasks)
        tq.execute(progress=False)
        passes.append({"from_mip": top, "mips": made, "tasks": len(tasks), "task_shape": shape,
                       "seconds": time.perf_counter() - p0})
    seconds = time.perf_counter() - t0
    vol = CloudVolume(path, progress=False)
    scales = [{"size": vol.meta.volume_size(m).tolist(), "encoding": vol.meta.encoding(m),
               "chunk": vol.meta.chunk_size(m).tolist(), "quality": vol.scales[m].get("jpeg_quality")}
              for m in vol.available_mips]
    gz = len(glob.glob(os.path.join(layer, vol.scales[-1]["key"], "*.gz")))
    print(json.dumps({"seconds": seconds, "passes": passes, "scales": scales, "gzipped_top_chunks": gz}))


def run_igneous(layer: str, workers: int) -> dict:
    wall, cpu, sampler, done = run_tree(_self_command("--child", "igneous", layer, str(workers)))
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(wall=result["seconds"], process_wall=wall, cpu=cpu, peak_task_mb=sampler.peak_worker())
    return result


def _row(name: str, r: dict | None, mb: float) -> str:
    if r is None:
        return f"{name:<10}{'-':>9}"
    peak = f"{r['peak_task_mb']:.0f}" if r.get("peak_task_mb") else "-"
    return (f"{name:<10}{r['wall']:>9.1f}{mb / r['wall']:>9.1f}{r['cpu']:>9.1f}{mb / r['cpu']:>11.1f}   {peak}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pyramid", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=int(os.environ.get("BENCH_PYRAMID_SIZE", 2048)),
                        help="section width and height in pixels (default 2048, env BENCH_PYRAMID_SIZE)")
    parser.add_argument("--sections", type=int, default=int(os.environ.get("BENCH_PYRAMID_SECTIONS", 512)),
                        help="number of sections (default 512, env BENCH_PYRAMID_SECTIONS)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="processes (default: all cores)")
    parser.add_argument("--quick", action="store_true", help="smoke run on 512 x 512 x 128")
    parser.add_argument("--data", default=os.path.join(ROOT, "bench-data", "pyramid"),
                        help="where the stack and outputs are kept (default bench-data/pyramid)")
    parser.add_argument("--only", default="emctl,volume,igneous,bound",
                        help="comma-separated subset to run (volume runs with igneous, on its input layer)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of every contender; the fastest counts")
    parser.add_argument("--breakdown", action="store_true",
                        help="instead: CPU per step (decode, tiles write/read, downsample, JPEG encode, shard "
                             "write) with emctl's functions on one block, in this process")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "igneous":
            igneous_child(rest[0], int(rest[1]))
        elif kind == "ingest":
            ingest_child(rest[0], rest[1], int(rest[2]), int(rest[3]), int(rest[4]))
        return 0
    if args.quick:
        args.size, args.sections, args.repeat = 512, 128, 1
    size, sections, workers = args.size, args.sections, args.workers
    name = f"{size}x{size}x{sections}"
    stack = os.path.join(args.data, f"stack-{name}")
    mb = size * size * sections / 1e6
    ensure_stack(stack, size, sections, workers)
    if args.breakdown:
        from bench.pyramid_breakdown import breakdown, concurrent_writes
        breakdown(stack, os.path.join(args.data, "breakdown"), min(sections, 64))
        concurrent_writes(stack, os.path.join(args.data, "breakdown"), sections, workers)
        return 0
    only = set(args.only.split(","))

    load = os.getloadavg()[0]
    print(f"pyramid benchmark: {name} uint8 = {mb:.0f} MB of input pixels, {workers} workers, "
          f"{os.cpu_count()} cores, load average {load:.1f} at start", flush=True)
    results: dict[str, dict | None] = {"emctl": None, "volume": None, "igneous": None, "ingest+ign": None,
                                       "bound": None}
    walls: dict[str, list[float]] = {k: [] for k in results}

    def keep(key: str, result: dict) -> None:
        """The fastest run of each contender counts (other load on the machine only slows a run)."""
        walls[key].append(result["wall"])
        if results[key] is None or result["wall"] < results[key]["wall"]:
            results[key] = result

    for attempt in range(args.repeat):     # rounds of every contender, so each meets the same load
        if "emctl" in only:
            out = os.path.join(args.data, f"out-emctl-{name}")
            keep("emctl", run_emctl(stack, out, size, sections, workers))
            print(f"  emctl done: {walls['emctl'][-1]:.1f} s", flush=True)
            if attempt == 0:
                from bench.throughput import record
                from emcore.storage import open_storage
                record(open_storage(out), "pyramid", f"render + pyramid of {name} uint8 PNGs, {workers} workers")
        if "igneous" in only:
            layer = os.path.join(args.data, f"raw-{name}")
            ingest = run_ingest(stack, layer, size, sections, workers)
            print(f"  ingest into a raw precomputed layer done: {ingest['wall']:.1f} s", flush=True)
            if "volume" in only:    # before igneous adds its mips to the layer, which emctl would keep
                keep("volume", run_emctl(stack, os.path.join(args.data, f"out-volume-{name}"), size, sections,
                                         workers, volume=layer))
                print(f"  emctl from the layer done: {walls['volume'][-1]:.1f} s", flush=True)
            i = run_igneous(layer, workers)
            keep("igneous", i)
            print(f"  igneous done: {i['wall']:.1f} s", flush=True)
            keep("ingest+ign", {"wall": ingest["wall"] + i["wall"], "cpu": ingest["cpu"] + i["cpu"],
                                "peak_task_mb": max(ingest["peak_task_mb"], i["peak_task_mb"])})
        if "bound" in only:
            from bench.pyramid_bound import run_bound
            keep("bound", run_bound(stack, sections, workers))
            print(f"  bound done: {walls['bound'][-1]:.1f} s", flush=True)

    print(f"\nfastest of {args.repeat} runs each:")
    print(f"{'':<10}{'wall s':>9}{'MB/s':>9}{'CPU s':>9}{'MB/CPU-s':>11}   peak MB/task   all walls")
    for key in results:
        print(_row(key, results[key], mb) + f"   {', '.join(f'{w:.1f}' for w in walls[key])}")
    e, i, b, ie = results["emctl"], results["igneous"], results["bound"], results["ingest+ign"]
    if e and i:
        print(f"emctl / ingest+igneous: {ie['wall'] / e['wall']:.2f}x wall, {ie['cpu'] / e['cpu']:.2f}x CPU "
              f"(target >= 1.25x); / igneous alone (no PNG decoded): {i['wall'] / e['wall']:.2f}x wall")
    v = results["volume"]
    if v and i:
        print(f"emctl from the layer / igneous on it: {i['wall'] / v['wall']:.2f}x wall, {i['cpu'] / v['cpu']:.2f}x "
              "CPU (emctl also re-encodes mip 0 as sharded JPEG; igneous leaves it raw and unsharded)")
    if e and b:
        print(f"emctl / bound:   {b['wall'] / e['wall']:.0%} wall, {b['cpu'] / e['cpu']:.0%} CPU (target >= 80%)")
    print(f"load average at end {os.getloadavg()[0]:.1f} (other work on the machine inflates wall times, not CPU s)")
    if e:
        waves = ", ".join(f"{w} {v['tasks']} tasks {v['time']}" for w, v in e["waves"].items())
        split = ", ".join(f"{k} {v:.1f}" for k, v in e["phase_cpu"].items())
        print(f"\nemctl: {waves}; scales {[s for s in e['scales']]}; worker peak during render "
              f"{e['peak_render_mb']:.0f} MB; CPU s by phase (sampled): {split}")
    if i:
        did = "; ".join(
            f"pass from mip {p['from_mip']}: {p['mips']} mips, {p['tasks']} tasks"
            + (f" of {p['task_shape']} voxels, {p['seconds']:.1f} s" if p.get("task_shape") else "")
            for p in i["passes"])
        print("ingest+ign: the same PNGs into igneous' input layer (CloudVolume, raw, unsharded, chunk 64^3), "
              "then igneous; its mip 0 stays raw, so it encodes 1/7 of the JPEG that emctl encodes")
        print(f"igneous: {did}; then stopped (no further mip with factor 2x2x2 and chunk {CHUNK}^3)")
        print(f"  timed from task creation to the last task's end; its process, interpreter start included: "
              f"{i['process_wall']:.1f} s")
        print(f"  scales {[s['size'] for s in i['scales']]}, encodings {[s['encoding'] for s in i['scales']]}, "
              f"jpeg quality {i['scales'][-1]['quality']}, gzipped chunks at the top mip: {i['gzipped_top_chunks']}")
    if b:
        print(f"bound: PNG decode {b['decode_cpu']:.1f} CPU s, JPEG encode of scale 0 {b['encode_cpu']:.1f} CPU s "
              f"({b['jpeg_bytes'] / 1e6:.0f} MB of JPEG); upper scales would add 1/7 of the encode")
    return 0


if __name__ == "__main__":
    sys.exit(main())
