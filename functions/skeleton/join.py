"""Joining an object's pieces from many blocks into one tree.

Neighbouring blocks share one plane of voxels (each block reads one voxel past its upper faces),
and kimimaro's `fix_borders` ends every skeleton that reaches a block's face at a point computed
from that face's voxels alone: both blocks put the same vertex, bit for bit, on the shared plane,
so merging vertices by position joins the pieces there. What that cannot join (a piece dropped as
dust in one block, a border point that differs where an object touches a block's edge) is joined
to its nearest component by the shortest link; loops made by joining are cut. The result is one
connected tree per object.
"""
from __future__ import annotations

import numpy as np
from kimimaro.post import join_close_components, remove_loops
from osteoid import Skeleton


def join(pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]], oid: int) -> Skeleton:
    """pieces: (vertices nm, edges, radius) of each block's piece of object `oid`."""
    skeletons = [Skeleton(v.copy(), e.copy(), radii=r.copy(), segid=oid) for v, e, r in pieces]
    skeleton = Skeleton.simple_merge(skeletons).consolidate()
    # Cutting loops can leave vertices without an edge: dropped, not joined (they are points).
    skeleton = remove_loops(skeleton).consolidate(remove_disconnected_vertices=True)
    components = skeleton.components()
    if len(components) > 1:
        skeleton = join_close_components(components, radius=np.inf).consolidate()
    skeleton.id = oid
    return skeleton
