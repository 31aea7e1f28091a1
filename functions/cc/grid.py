"""Geometry of the chunk grid for the cc stage: chunk indices, their boxes, the id scheme, which
chunks touch, and how the merge splits the grid among tasks.

Everything is x, y, z order, 0-based voxel coordinates inside the volume (the volume's
`voxel_offset` is added only when the final table is written). Chunks are numbered x fastest.
"""
from __future__ import annotations

import itertools

import numpy as np

# Segment ids are chunk_index * ID_STRIDE + local id: unique across the volume without any
# coordination, and the same on every retry of a task. A chunk must have fewer than 2**32
# voxels, and the grid fewer than 2**32 chunks.
ID_STRIDE = 1 << 32

# Connectivity as the largest number of axes a neighbour offset may step along.
MAX_STEPS = {6: 1, 18: 2, 26: 3}

# Half of the 26 grid directions (those that increase the linear chunk index), so each touching
# pair of chunks is visited once, from its lower-indexed chunk. Faces (one axis), edges (two)
# and corners (three) are all here: with 18/26-connectivity voxels touch across edges and corners.
DIRECTIONS = [d for d in itertools.product((-1, 0, 1), repeat=3)
              if any(d) and next(v for v in reversed(d) if v) > 0]


def check_connectivity(connectivity: int) -> int:
    if connectivity not in MAX_STEPS:
        raise ValueError(f"connectivity must be 6, 18 or 26, not {connectivity!r}")
    return connectivity


def grid_shape(volume_shape, block) -> tuple[int, int, int]:
    return tuple(-(-int(v) // int(c)) for v, c in zip(volume_shape, block))


def chunk_count(grid) -> int:
    return int(np.prod(grid))


def chunk_index(position, grid) -> int:
    x, y, z = position
    return int(x + grid[0] * (y + grid[1] * z))


def chunk_position(index: int, grid) -> tuple[int, int, int]:
    x = index % grid[0]
    y = (index // grid[0]) % grid[1]
    return (int(x), int(y), int(index // (grid[0] * grid[1])))


def chunk_box(index: int, grid, block, volume_shape) -> tuple[list[int], list[int]]:
    """(offset, shape) of a chunk; chunks on the high side are truncated to the volume."""
    pos = chunk_position(index, grid)
    offset = [p * c for p, c in zip(pos, block)]
    shape = [min(c, v - o) for c, v, o in zip(block, volume_shape, offset)]
    return offset, shape


def chunk_base(index: int) -> int:
    return int(index) * ID_STRIDE


def seam_pairs(chunks, grid) -> list[tuple[int, int, tuple[int, int, int]]]:
    """(a, b, direction) for every chunk b touching a chunk a in `chunks` (by face, edge or corner)
    with b after a; b may lie outside `chunks`."""
    pairs = []
    for a in chunks:
        pos = chunk_position(a, grid)
        for d in DIRECTIONS:
            q = [p + s for p, s in zip(pos, d)]
            if all(0 <= v < g for v, g in zip(q, grid)):
                pairs.append((int(a), chunk_index(q, grid), d))
    return pairs


def merge_groups(grid, nummergetasks: int) -> list[list[int]]:
    """Contiguous runs of chunk indices, one per first-level merge task. Contiguous runs keep
    most touching pairs inside one task, so a task reads few faces of chunks it does not own."""
    n = chunk_count(grid)
    tasks = max(1, min(int(nummergetasks), n))
    bounds = [n * t // tasks for t in range(tasks + 1)]
    return [list(range(bounds[t], bounds[t + 1])) for t in range(tasks)]


def chunks_to_read(chunks, grid) -> tuple[list[int], list[int]]:
    """(own, foreign): a merge task needs the statistics and faces of its own chunks, and only the
    faces of the later neighbours it pairs them with."""
    own = sorted(int(c) for c in chunks)
    mine = set(own)
    foreign = sorted({b for _, b, _ in seam_pairs(own, grid)} - mine)
    return own, foreign
