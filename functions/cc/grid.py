"""Geometry of the block grid for the cc stage: block indices, their boxes, the id scheme, which
blocks touch, and how the merge splits the grid among tasks.

Everything is x, y, z order, 0-based voxel coordinates inside the volume (the volume's
`voxel_offset` is added only when the final table is written). Blocks are numbered x fastest.
"""
from __future__ import annotations

import itertools

import numpy as np

# Segment ids are block_index * ID_STRIDE + local id: unique across the volume without any
# coordination, and the same on every retry of a task. A block must have fewer than 2**32
# voxels, and the grid fewer than 2**32 blocks.
ID_STRIDE = 1 << 32

# Connectivity as the largest number of axes a neighbour offset may step along.
MAX_STEPS = {6: 1, 18: 2, 26: 3}

# Half of the 26 grid directions (those that increase the linear block index), so each touching
# pair of blocks is visited once, from its lower-indexed block. Faces (one axis), edges (two)
# and corners (three) are all here: with 18/26-connectivity voxels touch across edges and corners.
DIRECTIONS = [d for d in itertools.product((-1, 0, 1), repeat=3)
              if any(d) and next(v for v in reversed(d) if v) > 0]


def check_connectivity(connectivity: int) -> int:
    if connectivity not in MAX_STEPS:
        raise ValueError(f"connectivity must be 6, 18 or 26, not {connectivity!r}")
    return connectivity


def grid_shape(volume_shape, block) -> tuple[int, int, int]:
    return tuple(-(-int(v) // int(c)) for v, c in zip(volume_shape, block))


def block_count(grid) -> int:
    return int(np.prod(grid))


def block_index(position, grid) -> int:
    x, y, z = position
    return int(x + grid[0] * (y + grid[1] * z))


def block_position(index: int, grid) -> tuple[int, int, int]:
    x = index % grid[0]
    y = (index // grid[0]) % grid[1]
    return (int(x), int(y), int(index // (grid[0] * grid[1])))


def block_box(index: int, grid, block, volume_shape) -> tuple[list[int], list[int]]:
    """(offset, shape) of a block; blocks on the high side are truncated to the volume."""
    pos = block_position(index, grid)
    offset = [p * c for p, c in zip(pos, block)]
    shape = [min(c, v - o) for c, v, o in zip(block, volume_shape, offset)]
    return offset, shape


def block_base(index: int) -> int:
    return int(index) * ID_STRIDE


def seam_pairs(blocks, grid) -> list[tuple[int, int, tuple[int, int, int]]]:
    """(a, b, direction) for every block b touching a block a in `blocks` (by face, edge or corner)
    with b after a; b may lie outside `blocks`."""
    pairs = []
    for a in blocks:
        pos = block_position(a, grid)
        for d in DIRECTIONS:
            q = [p + s for p, s in zip(pos, d)]
            if all(0 <= v < g for v, g in zip(q, grid)):
                pairs.append((int(a), block_index(q, grid), d))
    return pairs


def merge_groups(grid, nummergetasks: int) -> list[list[int]]:
    """Contiguous runs of block indices, one per first-level merge task. Contiguous runs keep
    most touching pairs inside one task, so a task reads few faces of blocks it does not own."""
    n = block_count(grid)
    tasks = max(1, min(int(nummergetasks), n))
    bounds = [n * t // tasks for t in range(tasks + 1)]
    return [list(range(bounds[t], bounds[t + 1])) for t in range(tasks)]


def blocks_to_read(blocks, grid) -> tuple[list[int], list[int]]:
    """(own, foreign): a merge task needs the statistics and faces of its own blocks, and only the
    faces of the later neighbours it pairs them with."""
    own = sorted(int(c) for c in blocks)
    mine = set(own)
    foreign = sorted({b for _, b, _ in seam_pairs(own, grid)} - mine)
    return own, foreign
