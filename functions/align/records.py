"""What the align waves store under the job root, and how.

  align/pairs/<z>.bin     one per pair task: section z's info, and for each neighbour w the pair's
                          quality and its inlier correspondences (float32 x, y in both sections)
  align/transforms.json   the solve's result (see transforms.py), written and read by emcore/alignment.py
  align/report.csv        one line per pair: its quality alone and under the solve (plot.py)
  align/report.png        the same along z, as a picture

The pair record is a small binary (a JSON header, then the float32 arrays) rather than npz or
JSON: npz embeds the write time (a retry must rewrite the same bytes), and JSON would spend ~4x
the bytes on coordinates. float32 keeps 0.004 px at 65,536 px, far below matching precision.
"""
from __future__ import annotations

import json
import struct

import numpy as np

from emcore.stage import TaskError
from emcore.storage import NotFound, Storage

MAGIC = b"EMCTL-ALIGN-PAIRS\x01"
REPORT_CSV = "align/report.csv"
REPORT_PNG = "align/report.png"


def pairs_key(z: int) -> str:
    return f"align/pairs/{z:06d}.bin"


def encode_pairs(info: dict, pairs: list[dict]) -> bytes:
    """`pairs`: summaries with "src" and "dst" (n, 2) arrays."""
    header = {"section": info, "pairs": []}
    blobs = []
    for p in pairs:
        src = np.asarray(p["src"], "<f4").reshape(-1, 2)
        dst = np.asarray(p["dst"], "<f4").reshape(-1, 2)
        header["pairs"].append({**{k: v for k, v in p.items() if k not in ("src", "dst")}, "count": len(src)})
        blobs += [src.tobytes(), dst.tobytes()]
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    return MAGIC + struct.pack("<I", len(text)) + text + b"".join(blobs)


def decode_pairs(data: bytes, name: str = "pair record") -> tuple[dict, list[dict]]:
    if not data.startswith(MAGIC):
        raise TaskError(f"{name} is not an align pair record")
    try:
        at = len(MAGIC)
        (length,) = struct.unpack_from("<I", data, at)
        at += 4
        header = json.loads(data[at:at + length])
        at += length
        expected = at + sum(16 * p["count"] for p in header["pairs"])
    except (struct.error, ValueError, KeyError) as e:
        raise TaskError(f"{name} is truncated or corrupt ({e})") from None
    if expected != len(data):
        raise TaskError(f"{name} is truncated or corrupt ({len(data)} bytes, expected {expected})")
    pairs = []
    for p in header["pairs"]:
        n = p.pop("count")
        arrays = []
        for _ in range(2):
            arrays.append(np.frombuffer(data, "<f4", 2 * n, at).reshape(n, 2).astype(np.float64))
            at += 8 * n
        p["src"], p["dst"] = arrays
        pairs.append(p)
    return header["section"], pairs


def write_pairs(store: Storage, z: int, info: dict, pairs: list[dict]) -> None:
    store.write(pairs_key(z), encode_pairs(info, pairs))


def read_pairs(store: Storage, z: int) -> tuple[dict, list[dict]]:
    try:
        data = store.read(pairs_key(z))
    except NotFound:
        raise TaskError(f"{store.url}{pairs_key(z)} does not exist: the pair task of section {z} has not run") from None
    return decode_pairs(data, store.url + pairs_key(z))


def write_report(store: Storage, doc: dict) -> None:
    from functions.align.plot import report_csv, report_png
    store.write(REPORT_CSV, report_csv(doc).encode())
    store.write(REPORT_PNG, report_png(doc))
