"""One object's multi-resolution mesh: levels of detail, Draco fragments and the manifest.

Level 0 is the chunk wave's pieces, one per finest octree node; level 1 too, simplified from
level 0 in the same cells and checked against the unsimplified surface (error x 2). Level l >= 2
lives in cells the size of level l-1 nodes: each cell's level l-1 pieces are joined (exactly, by
position) and simplified again with the cell's boundary locked, adding 2^(l-1) x the finest error,
so level l is within error x 2^l of the unsimplified surface. A level-l node is its 8 cells' pieces side by
side, so no triangle crosses its 2x2x2 partition (as the spec requires) and, since every level
keeps the finest seam vertices on every cell face it has, levels meet without cracks wherever
Neuroglancer draws neighbouring nodes at different levels.
"""
from __future__ import annotations

import struct
from collections import defaultdict

import DracoPy
import numpy as np

from functions.mesh import geometry
from functions.mesh.simplify import simplify
from functions.mesh.surface import weld

QUANTIZATION_BITS = 16
# A piece whose triangle corners are nearly all locked (the seam fans on its cell's faces) is kept
# as it is: on the benchmark, level 1 removed 3.6 % of such pieces' triangles for half its time.
LOCKED_LIMIT = 0.9
DRACO_LEVEL = 7


def lod_bound(error: float, voxel: float, lod: int) -> float:
    """Distance bound of level `lod` from the unsimplified surface (nm): error x 2^lod; without
    simplification (error 0), level 0 is exact and coarser levels use the voxel size x 2^(lod-1)."""
    if error > 0:
        return error * (1 << lod)
    return 0.0 if lod == 0 else voxel * (1 << (lod - 1))


def simplify_piece(half: np.ndarray, faces: np.ndarray, bound: float, resolution, chunk, level: int,
                   marching_cubes: bool = False, check=None):
    """Simplify one piece (vertices in half voxels) lying in one cell of octree level `level`,
    keeping every vertex on the cell's faces and their triangle fans (see simplify.py). Returns
    the faces and the check, which a coarser simplification of the result over the same `half`
    may pass back to be bounded against the same (finer) reference surface."""
    if bound <= 0 or len(faces) == 0:
        return faces, check
    span = 2 * np.asarray(chunk, np.int64) * (1 << level)
    # Column by column in the vertices' own int32 (half voxels stay far below 2**31): an int64
    # copy and a modulo over rows of three were a tenth of a block task.
    on_face = np.zeros(len(half), bool)
    for axis in range(3):
        on_face |= (half[:, axis] + 1) % np.int32(span[axis]) == 0
    lock = np.zeros(len(half), np.uint8)
    corner = on_face[faces]
    lock[faces[corner[:, 0] | corner[:, 1] | corner[:, 2]].reshape(-1)] = 1
    if lock[faces].mean() > LOCKED_LIMIT:
        return faces, check
    resolution = np.asarray(resolution, np.float64)
    # A check passed back was made over these same vertices: its points are theirs, in nm.
    points = check.points if check is not None else ((half - geometry.column_bounds(half)[0]) * (0.5 * resolution)).astype(np.float32)
    # A marching-cubes triangle joins midpoints of one cube's edges: no side exceeds its diagonal.
    edge = float(np.sqrt((resolution ** 2).sum())) if marching_cubes else None
    result, _, check = simplify(points, faces, bound, float(resolution.min()), lock, edge, check)
    return result, check


def compact(half: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    used, local = np.unique(faces, return_inverse=True)
    return half[used], local.reshape(-1, 3).astype(np.uint32)


def coarser_levels(pieces, lods: int, error: float, resolution, chunk) -> dict[int, dict[tuple, tuple]]:
    """From {lod: {cell: (half, faces)}} with levels 0 and 1, add levels 2..lods-1."""
    voxel = float(max(resolution))
    for lod in range(2, lods):
        cells: dict[tuple, list] = defaultdict(list)
        for cell, piece in pieces.get(lod - 1, {}).items():
            cells[tuple(c >> 1 for c in cell)].append(piece)
        increment = lod_bound(error, voxel, lod) - lod_bound(error, voxel, lod - 1)
        level = {}
        for cell, parts in cells.items():
            half, faces = weld([p[0] for p in parts], [p[1] for p in parts])
            level[cell] = compact(half, simplify_piece(half, faces, increment, resolution, chunk, lod - 1)[0])
        pieces[lod] = level
    return pieces


def fragments(pieces, lods: int, chunk, resolution, voxel_offset) -> list[list[tuple[tuple, bytes]]]:
    """Per level, [(node position, Draco bytes)] in Z-curve order. Level l's pieces live in cells
    of level max(l-1, 0); a level-l node gathers its cells' pieces."""
    out = []
    for lod in range(lods):
        nodes: dict[tuple, list] = defaultdict(list)
        for cell, piece in pieces.get(lod, {}).items():
            node = cell if lod == 0 else tuple(c >> 1 for c in cell)
            nodes[node].append(piece)
        keys = sorted(nodes)
        order = geometry.morton_order(np.array(keys, np.int64).reshape(-1, 3)) if keys else []
        level = []
        for i in order:
            node = keys[i]
            parts = nodes[node]
            # One piece (every level-0 node, small objects' coarser ones): its vertices are unique
            # already (marching cubes', or welded by the merge task), so there is nothing to weld.
            half, faces = parts[0] if len(parts) == 1 else weld([p[0] for p in parts], [p[1] for p in parts])
            level.append((node, encode_fragment(half, faces, node, lod, chunk, resolution, voxel_offset)))
        out.append(level)
    return out


def encode_fragment(half, faces, node, lod, chunk, resolution, voxel_offset) -> bytes:
    if len(faces) == 0:
        return b""
    origin = geometry.node_origin_nm(node, chunk, resolution, voxel_offset, lod)
    extent = np.asarray(chunk, np.float64) * np.asarray(resolution, np.float64) * (1 << lod)
    top = (1 << QUANTIZATION_BITS) - 1
    q = np.rint((geometry.to_nm(half, resolution, voxel_offset) - origin) / extent * top)
    q = np.clip(q, 0, top).astype(np.float32)
    return DracoPy.encode(q, faces.astype(np.uint32), quantization_bits=QUANTIZATION_BITS,
                          quantization_range=top, quantization_origin=[0, 0, 0],
                          compression_level=DRACO_LEVEL)


def manifest(levels, chunk, resolution, voxel_offset, lod_scales) -> bytes:
    """The `neuroglancer_multilod_draco` manifest for fragments as returned by `fragments`."""
    chunk_shape = np.asarray(chunk, np.float64) * np.asarray(resolution, np.float64)
    origin = geometry.node_origin_nm((0, 0, 0), chunk, resolution, voxel_offset)
    out = [struct.pack("<3f", *chunk_shape), struct.pack("<3f", *origin), struct.pack("<I", len(levels)),
           np.asarray(lod_scales, "<f4").tobytes(), np.zeros((len(levels), 3), "<f4").tobytes(),
           np.array([len(level) for level in levels], "<u4").tobytes()]
    for level in levels:
        positions = np.array([node for node, _ in level], np.int64).reshape(-1, 3)
        out.append(np.ascontiguousarray(positions.T, "<u4").tobytes())   # all x, then all y, then all z
        out.append(np.array([len(data) for _, data in level], "<u4").tobytes())
    return b"".join(out)


def encode_object(pieces, lods, chunk, resolution, voxel_offset, error) -> tuple[bytes, bytes]:
    """(fragment data, manifest) of one object from its level 0 and 1 pieces."""
    pieces = coarser_levels(pieces, lods, error, resolution, chunk)
    levels = fragments(pieces, lods, chunk, resolution, voxel_offset)
    voxel = float(max(resolution))
    scales = [max(lod_bound(error, voxel, lod), float(min(resolution)) * (1 << lod)) for lod in range(lods)]
    data = b"".join(d for level in levels for _, d in level)
    return data, manifest(levels, chunk, resolution, voxel_offset, scales)
