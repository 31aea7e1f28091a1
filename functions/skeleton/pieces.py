"""A block task's output: every object's piece of skeleton in one data object, and an index of
(id, offset, size) rows; the merge reads only its own objects' rows, by ranged reads."""
from __future__ import annotations

import numpy as np

INDEX = np.dtype([("id", "<u8"), ("offset", "<u8"), ("size", "<u8")])


def pack(pieces: dict[int, bytes]) -> tuple[bytes, bytes]:
    """(index, data) of {id: encoded piece}, in id order."""
    index = np.zeros(len(pieces), INDEX)
    offset = 0
    for row, oid in enumerate(sorted(pieces)):
        index[row] = (oid, offset, len(pieces[oid]))
        offset += len(pieces[oid])
    return index.tobytes(), b"".join(pieces[oid] for oid in sorted(pieces))


def unpack_index(data: bytes) -> np.ndarray:
    return np.frombuffer(data, INDEX)
