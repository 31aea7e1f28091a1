"""Neuroglancer's sharded format (`neuroglancer_uint64_sharded_v1`) for meshes, written here.

A shard file is: the shard index (2**minishard_bits entries of [start, end) uint64 pairs, offsets
counted from the end of the index), then the data, then each minishard's index: a [3, n] uint64
array of chunk ids (delta-encoded), data starts (delta-encoded from the end of the previous entry)
and sizes, gzip- or raw-encoded. For multi-resolution meshes the entry a minishard index points to
is the manifest; the Draco fragments sit immediately before it and are never compressed
(`prefix` below). Keys are segment ids, hashed with MurmurHash3_x86_128 (see `murmur.py`).
"""
from __future__ import annotations

import gzip
import math

import numpy as np

from emcore.murmur import hash64

OBJECTS_PER_SHARD = 512           # keeps a merge task's work and a shard's indices small
BYTES_PER_SHARD = 256 * 1024 ** 2
OBJECTS_PER_MINISHARD = 64        # a minishard index (fetched per lookup) of ~1.5 KB before gzip


def _bits(n: float) -> int:
    return max(0, math.ceil(math.log2(n))) if n > 1 else 0


def choose_sharding(n_objects: int, total_bytes: int, min_shards: int = 1) -> dict:
    """A sharding spec sized from the objects' count and (estimated) bytes; at least `min_shards`
    shards (one merge task each) while there are objects to fill them."""
    shard_bits = _bits(max(n_objects / OBJECTS_PER_SHARD, total_bytes / BYTES_PER_SHARD, 1))
    shard_bits = max(shard_bits, min(_bits(min_shards), _bits(n_objects / 8)))
    minishard_bits = _bits(n_objects / (2 ** shard_bits) / OBJECTS_PER_MINISHARD)
    return {
        "@type": "neuroglancer_uint64_sharded_v1",
        "hash": "murmurhash3_x86_128",
        "preshift_bits": 0,
        "minishard_bits": int(minishard_bits),
        "shard_bits": int(shard_bits),
        "minishard_index_encoding": "gzip",
        "data_encoding": "raw",
    }


def locate(ids, spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """(shard, minishard) numbers of each id under `spec`."""
    ids = np.asarray(ids, dtype=np.uint64) >> np.uint64(spec["preshift_bits"])
    hashed = hash64(ids) if spec["hash"] == "murmurhash3_x86_128" else ids
    m, s = np.uint64(spec["minishard_bits"]), np.uint64(spec["shard_bits"])
    minishard = hashed & ((np.uint64(1) << m) - np.uint64(1))
    shard = (hashed >> m) & ((np.uint64(1) << s) - np.uint64(1))
    return shard, minishard


def shard_key(shard: int, spec: dict) -> str:
    digits = max(1, math.ceil(spec["shard_bits"] / 4))
    return f"{int(shard):0{digits}x}.shard"


def _encode(data: bytes, encoding: str) -> bytes:
    # mtime=0: a retried task writes the same bytes.
    return gzip.compress(data, compresslevel=6, mtime=0) if encoding == "gzip" else data


def build_shard(entries, spec: dict) -> bytes:
    """The bytes of one shard file.

    `entries`: iterable of (id, prefix, value): `value` is what the minishard index points to
    (encoded with `data_encoding`), `prefix` raw bytes written just before it (mesh fragments).
    All ids must belong to this shard.
    """
    entries = sorted(entries, key=lambda e: int(e[0]))
    n_mini = 1 << spec["minishard_bits"]
    ids = np.array([e[0] for e in entries], dtype=np.uint64)
    _, minis = locate(ids, spec)
    body: list[bytes] = []
    position = 0                       # offset from the end of the shard index
    tables: list[list[tuple[int, int, int]]] = [[] for _ in range(n_mini)]
    for mini in range(n_mini):
        for i in np.flatnonzero(minis == mini):
            cid, prefix, value = entries[i]
            value = _encode(bytes(value), spec["data_encoding"])
            body += [bytes(prefix), value]
            position += len(prefix)
            tables[mini].append((int(cid), position, len(value)))
            position += len(value)
    index = np.zeros((n_mini, 2), dtype="<u8")
    for mini, table in enumerate(tables):
        if not table:
            index[mini] = (position, position)
            continue
        rows = np.array(table, dtype=np.uint64).T            # [3, n]: id, start, size
        encoded = rows.copy()
        encoded[0, 1:] = rows[0, 1:] - rows[0, :-1]
        encoded[1, 1:] = rows[1, 1:] - (rows[1, :-1] + rows[2, :-1])
        blob = _encode(encoded.astype("<u8").tobytes(), spec["minishard_index_encoding"])
        index[mini] = (position, position + len(blob))
        body.append(blob)
        position += len(blob)
    return index.tobytes() + b"".join(body)
