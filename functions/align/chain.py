"""The field's usual approach, kept as the reference the solve is measured against: chain the
adjacent pairs' models down the stack (section 0 is the frame; A_{z+1} = A_z o M_{z,z+1}^-1), with
no z+2 pairs and no global solve. A failed pair leaves the identity in the chain (the stack splits
there, as with clio_ingest's "found 0 correspondences"), and every pair's error is carried into all
later sections.
"""
from __future__ import annotations

import numpy as np

from functions.align import models


def chain(sections: list[int], pair_models: dict[tuple[int, int], np.ndarray | None]) -> dict[int, np.ndarray]:
    """`pair_models[(z, z+1)]`: the 2x3 model taking z to z+1 pixels, or None if the pair failed."""
    out = {}
    current = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    previous = None
    for z in sections:
        if previous is not None:
            m = pair_models.get((previous, z))
            if m is not None:
                current = models.compose(current, models.invert(m))
        out[z] = current
        previous = z
    return out
