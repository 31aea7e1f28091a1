"""Marching cubes of one chunk: every object's surface, cut into pieces by octree node.

zmesh meshes all labels of the chunk in one pass (measured against per-label scikit-image and
PyMCubes in docs/mesh.md). Its surfaces are 2-manifold with unique vertex positions, also where
voxels touch only along an edge or a corner, so joining pieces by position is exact.
"""
from __future__ import annotations

from dataclasses import dataclass

import fastremap
import numpy as np
import zmesh

from functions.mesh import geometry


@dataclass
class Piece:
    """One object's surface inside one finest-level octree node."""
    node: tuple[int, int, int]
    half: np.ndarray      # [n, 3] int32 vertex positions in half voxels (see geometry.py)
    faces: np.ndarray     # [m, 3] uint32


def mesh_chunk(labels: np.ndarray, lo, chunk) -> dict[int, list[Piece]]:
    """Surfaces of the non-zero labels of `labels` (x, y, z; index 0 is voxel `lo`, which may
    be -1: the caller pads with zeros outside the volume), per object id, cut by octree node."""
    labels = np.ascontiguousarray(labels)
    compact, mapping = fastremap.renumber(labels, preserve_zero=True, in_place=False)
    if len(mapping) <= 1:
        return {}
    mesher = zmesh.Mesher((1, 1, 1))
    mesher.mesh(compact, close=False)
    back = {v: k for k, v in mapping.items()}
    out: dict[int, list[Piece]] = {}
    for small in mesher.ids():
        mesh = mesher.get(small, normals=False, reduction_factor=0)
        mesher.erase(small)
        if len(mesh.faces) == 0:
            continue
        half = geometry.half_voxels(mesh.vertices, lo)
        out[int(back[small])] = split_by_node(half, mesh.faces.astype(np.uint32), chunk)
    mesher.clear()
    return out


def split_by_node(half: np.ndarray, faces: np.ndarray, chunk, level: int = 0) -> list[Piece]:
    # Most objects lie in one node: when the nodes of the vertices' bounding box corners agree,
    # every triangle's centroid is in that node too, and no triangle needs to be placed.
    lo, hi = geometry.box_nodes(half, chunk, level)
    if (lo == hi).all():
        return [Piece(tuple(int(k) for k in lo), half, faces)]
    nodes = geometry.triangle_nodes(half, faces, chunk, level)
    # The nodes lie in the box [lo, hi] (two per axis at most for a chunk's surface): number them
    # in that box, x slowest, so pieces come out in position order without sorting the triangles.
    extent = hi - lo + 1
    rel = nodes - lo
    code = (rel[:, 0] * extent[1] + rel[:, 1]) * extent[2] + rel[:, 2]
    pieces = []
    for c in np.flatnonzero(np.bincount(code, minlength=int(np.prod(extent)))):
        sub = faces[code == c]
        # The piece's vertices in their original order, numbered by a running count (np.unique
        # of the corners would sort them: most of a chunk's split time).
        used = np.zeros(len(half), bool)
        used[sub] = True
        local = (np.cumsum(used) - 1).astype(np.uint32)[sub]
        node = tuple(int(k) for k in lo + np.unravel_index(c, tuple(extent)))
        pieces.append(Piece(node, half[used], local))
    return pieces


def pack(points: np.ndarray) -> np.ndarray:
    """One int64 per row of non-negative integer triples below 2**21 (order-preserving per axis)."""
    p = points.astype(np.int64)
    return (p[:, 0] << 42) | (p[:, 1] << 21) | p[:, 2]


def weld(halves: list[np.ndarray], faces: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Join pieces into one indexed mesh, merging vertices at the same position."""
    if not halves:
        return np.zeros((0, 3), np.int32), np.zeros((0, 3), np.uint32)
    offsets = np.cumsum([0] + [len(h) for h in halves[:-1]])
    allv = np.concatenate(halves)
    allf = np.concatenate([f.astype(np.int64) + o for f, o in zip(faces, offsets)])
    keys, first, inverse = np.unique(pack(allv.astype(np.int64) + 1), return_index=True, return_inverse=True)
    return allv[first].astype(np.int32), inverse.reshape(-1)[allf].astype(np.uint32)
