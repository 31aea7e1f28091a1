"""Bytes for the cc stage's intermediates (block summaries, partials, mappings, tables).

They are JSON-like trees whose leaves may be numpy arrays. np.savez is not used because its zip
entries carry the time of writing: a retried task must write the same bytes. Here the bytes are
zlib(8-byte header length + sorted-key JSON header + raw little-endian array data), which depends
on the content only.
"""
from __future__ import annotations

import json
import struct
import zlib

import numpy as np

_MAGIC = b"emcc1"


def encode(tree) -> bytes:
    parts: list[bytes] = []
    position = 0

    def walk(node):
        nonlocal position
        if isinstance(node, np.ndarray):
            array = np.ascontiguousarray(node)
            array = array.astype(array.dtype.newbyteorder("<"), copy=False)
            data = array.tobytes()
            ref = {"__array__": [array.dtype.str, list(array.shape), position, len(data)]}
            parts.append(data)
            position += len(data)
            return ref
        if isinstance(node, dict):
            if not all(isinstance(k, str) for k in node):
                raise TypeError("codec: dict keys must be strings")
            # Sorted, so the data order (hence the bytes) ignores the dict's insertion order.
            return {k: walk(node[k]) for k in sorted(node)}
        if isinstance(node, (list, tuple)):
            return [walk(v) for v in node]
        if isinstance(node, np.generic):
            return node.item()
        return node

    header = json.dumps(walk(tree), sort_keys=True, separators=(",", ":")).encode()
    raw = struct.pack("<Q", len(header)) + header + b"".join(parts)
    # Level 1: a block's faces (3 MB of mostly zero uint64) in 10 ms instead of 21 at level 6.
    return _MAGIC + zlib.compress(raw, 1)


def decode(blob: bytes):
    if not blob.startswith(_MAGIC):
        raise ValueError("not a cc intermediate (bad magic)")
    raw = zlib.decompress(blob[len(_MAGIC):])
    (length,) = struct.unpack_from("<Q", raw)
    body = memoryview(raw)[8 + length:]

    def walk(node):
        if isinstance(node, dict):
            if set(node) == {"__array__"}:
                dtype, shape, start, size = node["__array__"]
                return np.frombuffer(body[start:start + size], dtype=dtype).reshape(shape).copy()
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(json.loads(raw[8:8 + length]))
