"""Which sections the usable pairs connect, and what to do about gaps.

Sections are nodes, usable pairs edges. With reach 2, one bad section leaves its neighbours
connected through the z-1 -> z+1 pair (it is *bridged*); two bad sections in a row split the stack
into parts that no correspondence relates. The solve then needs some relation between the parts,
and the only honest one is "as imaged": the sections on either side of the gap are tied by the
identity, with a weight so small it fixes only the parts' relative gauge, and the split is
reported so that the user knows alignment across it is not measured.
"""
from __future__ import annotations

import numpy as np

TIE_WEIGHT = 1e-3
TIE_RESIDUAL = 1.0


def components(nodes: list[int], edges: list[tuple[int, int]]) -> list[list[int]]:
    """Connected components, each sorted, ordered by their first section."""
    parent = {n: n for n in nodes}

    def root(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for n in sorted(nodes):
        groups.setdefault(root(n), []).append(n)
    return sorted(groups.values(), key=lambda g: g[0])


def ties(parts: list[list[int]], shapes: dict[int, tuple[int, int]]):
    """Identity ties between consecutive parts: (a, b, src, dst) with a the last section before
    the gap and b the first after it (or the closest such pair when parts interleave)."""
    out = []
    for before, after in zip(parts, parts[1:]):
        a, b = min(((x, y) for x in before for y in after), key=lambda p: (abs(p[1] - p[0]), p[0]))
        h, w = shapes[a]
        grid = np.stack(np.meshgrid(np.linspace(0, w - 1, 3), np.linspace(0, h - 1, 3)), -1).reshape(-1, 2)
        out.append((min(a, b), max(a, b), grid, grid.copy()))
    return out


def bridged(solved: list[int], all_sections: list[int]) -> list[int]:
    """Sections inside the stack's range that no usable pair touches: the stack is carried over
    them (by z+2 pairs, or a tie), and their transforms are interpolated."""
    have = set(solved)
    if not have:
        return list(all_sections)
    return [z for z in all_sections if z not in have]
