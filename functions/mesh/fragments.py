"""The chunk wave's output, read by the merge wave: per object, its pieces at the levels of detail
a chunk can build alone (0 and 1), in half-voxel integers.

Two objects per block under `<mesh-tmp>/blocks/`: `<x>_<y>_<z>.idx` (ids, voxel counts, byte
ranges; read by the merge planner) and `<x>_<y>_<z>.dat` (one record per object, read by range).
Bytes depend on the content only, so a retried task writes the same bytes.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

_INDEX = np.dtype([("id", "<u8"), ("voxels", "<u8"), ("offset", "<u8"), ("size", "<u8")])


def chunk_name(position) -> str:
    return "_".join(str(int(p)) for p in position)


def encode_record(pieces: list[tuple[int, tuple[int, int, int], np.ndarray, np.ndarray]]) -> bytes:
    """pieces: (lod, node, half [n, 3] int32, faces [m, 3] uint32)."""
    head = struct.pack("<I", len(pieces))
    parts = []
    for lod, node, half, faces in pieces:
        head += struct.pack("<B3iII", lod, *node, len(half), len(faces))
        parts += [np.ascontiguousarray(half, "<i4").tobytes(), np.ascontiguousarray(faces, "<u4").tobytes()]
    return zlib.compress(head + b"".join(parts), 1)


def decode_record(data: bytes) -> list[tuple[int, tuple[int, int, int], np.ndarray, np.ndarray]]:
    raw = zlib.decompress(data)
    (count,) = struct.unpack_from("<I", raw, 0)
    position = 4
    heads = []
    for _ in range(count):
        heads.append(struct.unpack_from("<B3iII", raw, position))
        position += struct.calcsize("<B3iII")
    out = []
    for lod, x, y, z, nv, nf in heads:
        half = np.frombuffer(raw, "<i4", nv * 3, position).reshape(nv, 3)
        position += nv * 12
        faces = np.frombuffer(raw, "<u4", nf * 3, position).reshape(nf, 3)
        position += nf * 12
        out.append((lod, (x, y, z), half, faces))
    return out


def encode_chunk(records: dict[int, tuple[int, bytes]]) -> tuple[bytes, bytes]:
    """records: id -> (voxels, record bytes). Returns (index bytes, data bytes)."""
    ids = sorted(records)
    index = np.zeros(len(ids), _INDEX)
    offset = 0
    for i, oid in enumerate(ids):
        voxels, data = records[oid]
        index[i] = (oid, voxels, offset, len(data))
        offset += len(data)
    return zlib.compress(index.tobytes(), 1), b"".join(records[oid][1] for oid in ids)


def decode_index(data: bytes) -> np.ndarray:
    return np.frombuffer(zlib.decompress(data), _INDEX)
