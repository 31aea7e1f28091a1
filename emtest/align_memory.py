"""The align stage's science run in memory on a list of images: the pair wave (the stage's own
code, one run over the whole stack) and the solve, without storage or processes."""
from __future__ import annotations

import numpy as np

from functions.align.options import OPTIONS, matching_factor, partners
from functions.align.pairwave import Preparer, match_run
from functions.align.transforms import build


def align(images: list[np.ndarray], resolution=(4.0, 4.0, 50.0), **options) -> tuple[dict, list[dict]]:
    """`options`: stages.align keys. Returns (transforms document, pair records with their
    correspondences)."""
    opts = OPTIONS.validate(options)
    last = len(images) - 1

    def partners_of(z: int) -> list[int]:
        return partners(z, last, opts["reach"], opts["anchors"])
    preparer = Preparer(lambda z: images[z], matching_factor(opts, resolution))
    sections, pairs = {}, []
    for z, info, results in match_run(range(len(images)), partners_of, preparer, opts["model"],
                                      opts["max_rotation"], opts["reach"]):
        sections[z] = info
        pairs += [{**r.summary(), "src": r.src, "dst": r.dst} for r in results]
    return build(sections, pairs, opts["model"], reach=opts["reach"]), pairs


def placements(doc: dict):
    """Score placements (emtest.align_score) of an align document: each section's matrix, or None
    for a section no usable pair placed (bridged)."""
    from emtest.align_score import affine_placement
    return {s["z"]: None if "bridged" in s["flags"] else affine_placement(s["matrix"]) for s in doc["sections"]}
