"""The pyramid benchmark's bound (bench/pyramid.py): a process pool of N decodes every PNG
section with emctl's decoder, then JPEG-encodes every 64^3 chunk of scale 0 as Neuroglancer lays
it out (simplejpeg, libjpeg-turbo as TensorStore's encoder); nothing is written. Run in its own
process tree: `python -m bench.pyramid_bound STACK SECTIONS WORKERS` prints its figures as JSON."""
from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from bench.measure import run_tree
from bench.pyramid import CHUNK, PATTERN, QUALITY


def _bound_slab(args) -> tuple[float, float, int]:
    """Decode sections [z0, z1) and JPEG-encode every 64^3 chunk they make: (decode s, encode s, bytes)."""
    import simplejpeg

    from emcore.images import decode_png
    stack, z0, z1 = args
    t0 = time.process_time()
    slab = None
    for i, z in enumerate(range(z0, z1)):
        with open(os.path.join(stack, PATTERN % z), "rb") as f:
            data = f.read()
        image = decode_png(data, PATTERN % z)
        if slab is None:
            slab = np.empty((z1 - z0,) + image.shape, image.dtype)
        slab[i] = image
    t1 = time.process_time()
    depth, height, width = slab.shape
    nbytes = 0
    for y in range(0, height, CHUNK):
        for x in range(0, width, CHUNK):
            block = slab[:, y:y + CHUNK, x:x + CHUNK]            # (z, y, x): one chunk
            # Neuroglancer's JPEG chunk: an image x wide and y*z tall.
            image = np.ascontiguousarray(block).reshape(-1, block.shape[2], 1)
            nbytes += len(simplejpeg.encode_jpeg(image, quality=QUALITY, colorspace="GRAY"))
    return t1 - t0, time.process_time() - t1, nbytes


def bound_child(stack: str, sections: int, workers: int) -> None:
    slabs = [(stack, z, min(z + CHUNK, sections)) for z in range(0, sections, CHUNK)]
    t0 = time.perf_counter()
    # The same allocator setting as emctl's workers: the bound must not pay page faults emctl avoids.
    from emcore.allocator import keep_freed_memory
    with ProcessPoolExecutor(workers, initializer=keep_freed_memory) as pool:
        parts = list(pool.map(_bound_slab, slabs))
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "decode_cpu": sum(p[0] for p in parts),
                      "encode_cpu": sum(p[1] for p in parts), "jpeg_bytes": sum(p[2] for p in parts)}))


def run_bound(stack: str, sections: int, workers: int) -> dict:
    command = [sys.executable, "-m", "bench.pyramid_bound", stack, str(sections), str(workers)]
    wall, cpu, sampler, done = run_tree(command, warm=stack)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(wall=result["seconds"], process_wall=wall, cpu=cpu, peak_task_mb=sampler.peak_worker())
    return result


if __name__ == "__main__":
    bound_child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
