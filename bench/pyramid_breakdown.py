"""Where the pyramid's CPU time goes: emctl's own functions timed one step at a time on one block
(`python -m bench.pyramid --breakdown`), in CPU ms per MB of input, next to the bound's steps."""
from __future__ import annotations

import os
import shutil
import time

import numpy as np

from bench.pyramid import CHUNK, PATTERN, QUALITY, RESOLUTION

def breakdown(stack: str, work: str, sections: int, repeat: int = 2) -> None:
    """Where a task's CPU time goes, step by step, with emctl's own functions on one block
    (1024 x 1024 x `sections` cut from the stack's sections), in this process. CPU time
    (time.process_time) includes TensorStore's threads and is the minimum of `repeat` runs.
    "C order" is what the stages did before reading blocks in Fortran order; "F" reads and downsamples in Fortran
    order, the layout of precomputed chunks (x fastest)."""
    import tensorstore as ts
    import simplejpeg
    from emcore import tiles
    from emcore.images import decode_png
    from emcore.multiscale import Multiscale
    from emcore.storage import open_storage
    from emcore.volume import downsample, open_scale, read_block, write_block

    shutil.rmtree(work, ignore_errors=True)
    store = open_storage(work)
    names = [os.path.join(stack, PATTERN % z) for z in range(sections)]
    first = decode_png(open(names[0], "rb").read(), names[0])
    height, width = first.shape
    block = [min(1024, width), min(1024, height), sections]
    tiles.write_tiles_info(store, [width, height, sections], "uint8", RESOLUTION, [0, 0, 0],
                           tiles.tile_shape(width, height, [1024, 1024]))
    ms = Multiscale(block, RESOLUTION, [0, 0, 0], [CHUNK] * 3, [1024, 1024, 1024])
    for layer, encoding in (("jpeg", "jpeg"), ("raw", "raw")):
        ms.volume(store.url + layer, "image", "uint8", encoding, QUALITY).write()
    scales = list(ms.layouts[0].scales)
    rows = []

    def step(label: str, mb: float, fn):
        best, result = None, None
        for _ in range(repeat):
            t = time.process_time()
            result = fn()
            used = time.process_time() - t
            best = used if best is None else min(best, used)
        rows.append((label, best, best / mb * 1e3))
        return result

    section_mb = width * height * sections / 1e6
    block_mb = block[0] * block[1] * block[2] / 1e6
    raw = step("render: read PNG bytes", section_mb, lambda: [open(n, "rb").read() for n in names])
    images = step("render: PNG decode (decode_png)", section_mb, lambda: [decode_png(d, "") for d in raw])
    info = tiles.read_tiles_info(store)
    step("render: tiles write", section_mb,
         lambda: [tiles.write_section(store, info, z, im) for z, im in enumerate(images)])
    source = tiles.open_tiles(store, read_only=True)
    lo, hi = [0, 0, 0], block
    data_c = step("pyramid: tiles read (C order)", block_mb,
                  lambda: source[0:hi[0], 0:hi[1], 0:hi[2]].read().result())
    data_f = step("pyramid: tiles read (F order, tiles.read_block)", block_mb, lambda: tiles.read_block(store, info, lo, hi))

    def chain(data, order):
        out = [data]
        for i in scales[1:]:
            st = ms.scales[i].step
            if order == "C":
                out.append(downsample(out[-1], st, "mean"))
            else:
                out.append(ts.downsample(ts.array(out[-1]), list(st), "mean").read(order="F").result())
        return out

    levels_c = step("pyramid: downsample chain (C order)", block_mb, lambda: chain(data_c, "C"))
    levels_f = step("pyramid: downsample chain (F order)", block_mb, lambda: chain(data_f, "F"))
    jpeg0, raw0 = open_scale(store.url + "jpeg/", 0), open_scale(store.url + "raw/", 0)
    step("pyramid: scale 0 JPEG shard write (C order)", block_mb, lambda: write_block(jpeg0, [0, 0, 0], data_c))
    step("pyramid: scale 0 raw shard write (C order)", block_mb, lambda: write_block(raw0, [0, 0, 0], data_c))
    step("pyramid: scale 0 JPEG shard write (F)", block_mb, lambda: write_block(jpeg0, [0, 0, 0], data_f))
    step("pyramid: scale 0 raw shard write (F)", block_mb, lambda: write_block(raw0, [0, 0, 0], data_f))
    zyx = np.ascontiguousarray(data_f.transpose(2, 1, 0))

    def encode_only():
        for y in range(0, zyx.shape[1], CHUNK):
            for x in range(0, zyx.shape[2], CHUNK):
                chunk = np.ascontiguousarray(zyx[:, y:y + CHUNK, x:x + CHUNK])
                simplejpeg.encode_jpeg(chunk.reshape(-1, chunk.shape[2], 1), quality=QUALITY, colorspace="GRAY")

    step("pyramid: scale 0 JPEG encode only (simplejpeg)", block_mb, encode_only)
    uppers = [(open_scale(store.url + "jpeg/", i), lc, lf) for i, lc, lf in zip(scales[1:], levels_c[1:], levels_f[1:])]
    step("pyramid: scales 1+ JPEG shard writes (C order)", block_mb,
         lambda: [write_block(v, list(ms.scales[i].voxel_offset), a) for (v, a, _), i in zip(uppers, scales[1:])])
    step("pyramid: scales 1+ JPEG shard writes (F)", block_mb,
         lambda: [write_block(v, list(ms.scales[i].voxel_offset), a) for (v, _, a), i in zip(uppers, scales[1:])])
    print(f"\nCPU per step, emctl's functions on {width}x{height}x{sections} sections and a "
          f"{block[0]}x{block[1]}x{block[2]} block (min of {repeat}):")
    print(f"{'step':<50}{'CPU s':>8}{'ms/MB':>8}")
    for label, seconds, per_mb in rows:
        print(f"{label:<50}{seconds:>8.2f}{per_mb:>8.2f}")
    per = {label: per_mb for label, _, per_mb in rows}
    now = sum(v for k, v in per.items() if k.startswith("render") or "(C order" in k)
    fixed = sum(v for k, v in per.items() if k.startswith("render") or "(F" in k) - per["pyramid: scale 0 raw shard write (F)"]
    now -= per["pyramid: scale 0 raw shard write (C order)"]
    bound = per["render: PNG decode (decode_png)"] + per["pyramid: scale 0 JPEG encode only (simplejpeg)"]
    print(f"sum of steps, C order: {now:.1f} ms/MB ({1e3 / now:.0f} MB/CPU-s); in F order: {fixed:.1f} ms/MB "
          f"({1e3 / fixed:.0f} MB/CPU-s); decode + encode alone: {bound:.1f} ms/MB ({1e3 / bound:.0f} MB/CPU-s)")
    shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------------------------ main


def _pool_share(args) -> dict[str, float]:
    """One worker's share of `concurrent_writes`: seconds decoding, and writing tiles if asked."""
    work, names, zs, write = args
    from emcore import tiles
    from emcore.images import decode_png
    from emcore.storage import open_storage
    store = open_storage(work)
    info = tiles.read_tiles_info(store)
    spent = {"decode": 0.0, "tiles write": 0.0}
    for z in zs:
        t = time.perf_counter()
        image = decode_png(open(names[z], "rb").read(), names[z])
        spent["decode"] += time.perf_counter() - t
        if write:
            t = time.perf_counter()
            tiles.write_section(store, info, z, image)
            spent["tiles write"] += time.perf_counter() - t
    return spent


def concurrent_writes(stack: str, work: str, sections: int, workers: int) -> None:
    """The render's tile writes with `workers` processes writing at once, as in a real run, next
    to decoding alone in the same pool: ms per section for each step (pool workers set up as
    emctl's, emcore/allocator.py)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from bench.measure import settle_disk, warm_files
    from emcore import tiles
    from emcore.allocator import keep_freed_memory
    from emcore.images import decode_png
    from emcore.storage import open_storage
    names = [os.path.join(stack, PATTERN % z) for z in range(sections)]
    height, width = decode_png(open(names[0], "rb").read(), names[0]).shape
    print(f"\n{workers} processes at once, {sections} sections of {width}x{height}: ms per section")
    for write in (False, True):
        shutil.rmtree(work, ignore_errors=True)
        tiles.write_tiles_info(open_storage(work), [width, height, sections], "uint8", RESOLUTION, [0, 0, 0],
                               tiles.tile_shape(width, height, [1024, 1024]))
        settle_disk()
        warm_files(stack)
        shares = [(work, names, list(range(i, sections, workers)), write) for i in range(workers)]
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=keep_freed_memory) as pool:
            spent = list(pool.map(_pool_share, shares))
        cells = "   ".join(f"{k} {sum(s[k] for s in spent) / sections * 1e3:.1f}" for k in spent[0] if write or k == "decode")
        print(f"  {'decode, then write tiles' if write else 'decode only':<26}{cells}")
    shutil.rmtree(work, ignore_errors=True)
