"""Neuroglancer's precomputed skeleton encoding, and the layer's `info`.

One skeleton is: uint32 vertex count, uint32 edge count, float32 [n, 3] vertex positions (nm, in
the layer's frame: the `transform` is the identity), uint32 [m, 2] edges, then each vertex
attribute the `info` lists, in order: here only `radius` (float32, nm). Little-endian throughout.
The block tasks store their pieces in the same encoding.
"""
from __future__ import annotations

import numpy as np

ATTRIBUTES = [{"id": "radius", "data_type": "float32", "num_components": 1}]


def encode(vertices: np.ndarray, edges: np.ndarray, radius: np.ndarray) -> bytes:
    n, m = len(vertices), len(edges)
    return b"".join([np.array([n, m], "<u4").tobytes(), np.asarray(vertices, "<f4").tobytes(),
                     np.asarray(edges, "<u4").tobytes(), np.asarray(radius, "<f4").reshape(n).tobytes()])


def decode(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, m = (int(v) for v in np.frombuffer(data, "<u4", 2))
    at = 8
    vertices = np.frombuffer(data, "<f4", 3 * n, at).reshape(n, 3)
    at += 12 * n
    edges = np.frombuffer(data, "<u4", 2 * m, at).reshape(m, 2)
    at += 8 * m
    return vertices, edges, np.frombuffer(data, "<f4", n, at)


def info(sharding: dict) -> dict:
    """The skeleton layer's `info` (the one place it is written: the metadata classes of emcore
    may take it over)."""
    return {"@type": "neuroglancer_skeletons", "transform": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0],
            "vertex_attributes": ATTRIBUTES, "sharding": sharding, "spatial_index": None}
