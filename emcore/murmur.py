"""MurmurHash3_x86_128 of uint64 keys, vectorised: the hash of Neuroglancer's sharded format.

The sharded spec hashes a chunk id (here a segment id, after `preshift_bits`) as its 8 little-endian
bytes with MurmurHash3_x86_128, seed 0, and keeps the low 8 bytes of the 16-byte result as a
little-endian uint64. With an 8-byte key there are no full 16-byte blocks: only the tail step
(two 32-bit lanes) and the finalisation run, which is what is written here, over whole arrays.
"""
from __future__ import annotations

import numpy as np

_C1, _C2, _C3 = np.uint32(0x239B961B), np.uint32(0xAB0E9789), np.uint32(0x38B34AE5)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _fmix(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def hash64(keys) -> np.ndarray:
    """Low 64 bits of MurmurHash3_x86_128(key as 8 little-endian bytes, seed 0), per key."""
    keys = np.asarray(keys, dtype=np.uint64).reshape(-1)
    with np.errstate(over="ignore"):
        k1 = (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        k2 = (keys >> np.uint64(32)).astype(np.uint32)
        # Tail step for an 8-byte key: bytes 4..7 feed lane 2, bytes 0..3 lane 1; lanes 3, 4 stay 0.
        k2 = _rotl(k2 * _C2, 16) * _C3
        k1 = _rotl(k1 * _C1, 15) * _C2
        length = np.uint32(8)
        h1, h2 = k1 ^ length, k2 ^ length
        h3 = np.full_like(h1, length)
        h4 = h3.copy()
        h1 = h1 + h2 + h3 + h4
        h2, h3, h4 = h2 + h1, h3 + h1, h4 + h1
        h1, h2, h3, h4 = _fmix(h1), _fmix(h2), _fmix(h3), _fmix(h4)
        h1 = h1 + h2 + h3 + h4
        h2 = h2 + h1
    return h1.astype(np.uint64) | (h2.astype(np.uint64) << np.uint64(32))
