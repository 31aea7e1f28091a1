"""Section decoding: what a render task spends before it warps, for PNG and for TIFF (each
codec, 8 and 16 bit, a file per section and a page of a multi-page stack), through emctl's own
reader (emcore/images.py: header checked first; TIFF through ranged reads of the object), next
to the field's reference decoders on the same files in the same run: OpenCV's imread for PNG,
tifffile.imread for TIFF.

    .venv/bin/python -m bench.sections [--quick]

Sections are real ssTEM (../shared/data/isbi-sstem, 512 x 512) tiled 4 x 4 into 2048 x 2048
(1024 x 1024 with --quick); the 16-bit ones are the same scaled to 12 bits with noise in the
low bits, as a 12-bit camera writes them. Throughput is decoded megapixels per second, best of 3.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np

from emtest import realdata

SECTIONS = 6
CODECS = [None, "lzw", "adobe_deflate", "zstd"]


def stack(side: int, bits: int) -> np.ndarray:
    tiles = side // 512
    rng = np.random.default_rng(0)
    out = []
    for z in range(SECTIONS):
        grid = [realdata.section((z + k) % realdata.SECTIONS) for k in range(tiles * tiles)]
        image = np.vstack([np.hstack(grid[r * tiles:(r + 1) * tiles]) for r in range(tiles)])
        if bits == 16:
            image = image.astype(np.uint16) * 16 + rng.integers(0, 16, image.shape, dtype=np.uint16)
        out.append(image)
    return np.stack(out)


def best_rate(read_all, pixels: int) -> float:
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        read_all()
        best = min(best, time.perf_counter() - t)
    return pixels / best / 1e6


def main(argv: list[str]) -> int:
    if not realdata.present():
        print(f"skipped: {realdata.MISSING}")
        return 0
    import cv2
    import tifffile
    from emcore.images import read_section
    from emcore.storage import open_storage
    side = 1024 if "--quick" in argv else 2048
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        store = open_storage(directory)
        for bits in (8, 16):
            images = stack(side, bits)
            pixels = images.size
            forms = {"PNG": [f"png{bits}_{z}.png" for z in range(SECTIONS)]}
            for z, image in enumerate(images):
                cv2.imwrite(os.path.join(directory, forms["PNG"][z]), image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
            for codec in CODECS:
                name = f"TIFF {codec or 'none'}"
                forms[name] = [f"{name.replace(' ', '_')}{bits}_{z}.tif" for z in range(SECTIONS)]
                for z, image in enumerate(images):
                    tifffile.imwrite(os.path.join(directory, forms[name][z]), image, compression=codec)
            stack_name = f"stack{bits}.tif"
            tifffile.imwrite(os.path.join(directory, stack_name), images, compression="zstd", imagej=True)
            for name, files in forms.items():
                paths = [os.path.join(directory, f) for f in files]
                ours = best_rate(lambda: [read_section(store, f) for f in files], pixels)
                if name == "PNG":
                    reference = best_rate(lambda: [cv2.imread(p, cv2.IMREAD_UNCHANGED) for p in paths], pixels)
                else:
                    reference = best_rate(lambda: [tifffile.imread(p) for p in paths], pixels)
                size = sum(os.path.getsize(p) for p in paths) / images.nbytes
                rows.append((bits, name, size, ours, reference, "cv2.imread" if name == "PNG" else "tifffile.imread"))
            path = os.path.join(directory, stack_name)
            ours = best_rate(lambda: [read_section(store, stack_name, z) for z in range(SECTIONS)], pixels)
            reference = best_rate(lambda: [tifffile.imread(path, key=z) for z in range(SECTIONS)], pixels)
            rows.append((bits, "TIFF stack zstd, a page", os.path.getsize(path) / images.nbytes, ours, reference,
                         "tifffile.imread(key=)"))
    print(f"{SECTIONS} sections of {side} x {side}, decoded megapixels per second (best of 3), one core")
    print(f"{'bits':>4}  {'format':<26}{'size':>7}  {'emctl':>8}  {'reference':>9}  {'ratio':>6}  reference tool")
    for bits, name, size, ours, reference, tool in rows:
        print(f"{bits:>4}  {name:<26}{size:>6.0%}  {ours:>8.0f}  {reference:>9.0f}  {ours / reference:>6.2f}  {tool}")
    png8 = next(r[3] for r in rows if r[:2] == (8, "PNG"))
    for bits, name, _, ours, _, _ in rows:
        if bits == 8 and name != "PNG":
            print(f"  8-bit {name}: {ours / png8:.2f} x emctl's PNG decode")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
