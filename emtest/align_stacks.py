"""Stacks with known displacements for the align tests and benchmarks, the residual measure, and
the in-memory alignment both approaches are run through (tests/test_align_stacks.py checks that
the stacks are what they claim).

The truth: section z shows the tissue displaced by M_z (true pixel -> section pixel). An output
transform A_z (section -> frame) is right if A_z M_z is the same map G for every z: the residual of
a grid point X is |G^-1 A_z M_z X - X| in true pixels, with G the one affine fitted over all
sections and points ("after removing one global transform").
"""
from __future__ import annotations

import numpy as np

from emtest.align_memory import align
from functions.align import models
from functions.align.chain import chain
from functions.align.transforms import build, matrices_of
from orchestrator.samplestack import centred, misaligned_sections, random_affines

# The synthetic sample keeps its structures over the whole stack, so long-range anchor pairs match
# and hold a long stack's shape; the default (none) is for real sections, where they do not.
ANCHORS = (8, 32)
KINDS = {
    # displacement kind: random_affines arguments
    "translation": dict(shift=12.0, angle_deg=0.0, scale=0.0),
    "rigid": dict(shift=12.0, angle_deg=2.0, scale=0.0),
    "affine": dict(shift=12.0, angle_deg=1.5, scale=0.01, anisotropy=0.03, shear_deg=2.0),
}


def known_stack(kind: str, size: int, sections: int, seed: int = 0):
    """(images, truth affines) for a displacement kind."""
    truth = [centred(m, size) for m in random_affines(sections, seed, **KINDS[kind])]
    return list(misaligned_sections(size, truth, seed)), truth


def defect_stack(size: int = 320, sections: int = 18, seed: int = 3):
    """An affine-displaced stack with the problems of real acquisitions, and which sections have
    them: blank (4), damaged (noise only, 11), duplicated (9 repeats 8), dimmed to a third of its
    contrast (7), brightened into saturation (14)."""
    images, truth = known_stack("affine", size, sections, seed)
    rng = np.random.default_rng(seed)
    images[4] = np.full_like(images[4], 118)
    images[11] = rng.integers(0, 256, images[11].shape).astype(np.uint8)
    images[9], truth[9] = images[8].copy(), truth[8].copy()
    images[7] = np.clip(images[7] * 0.35 + 20, 0, 255).astype(np.uint8)
    images[14] = np.clip(images[14] * 1.3 + 60, 0, 255).astype(np.uint8)
    return images, truth, {"blank": [4], "damaged": [11], "duplicate": {9: 8}, "brightness": [7, 14]}


def truth_residuals(matrices: dict[int, np.ndarray], truth, size: int, sections) -> np.ndarray:
    """(len(sections), 81) residuals in true pixels of a 9x9 grid over the whole field."""
    sections = list(sections)
    g = np.linspace(0, size - 1, 9)
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    placed = np.concatenate([models.apply(models.compose(matrices[z], truth[z]), grid) for z in sections])
    true = np.concatenate([grid] * len(sections))
    global_map = models.fit("affine", true, placed)
    return np.linalg.norm(models.apply(models.invert(global_map), placed) - true, axis=1).reshape(len(sections), -1)


def stats(residuals: np.ndarray) -> dict[str, float]:
    return {"median": float(np.median(residuals)), "p95": float(np.percentile(residuals, 95)),
            "max": float(residuals.max())}


def align_in_memory(images, cap: str = "affine", reach: int = 2, factor: int = 1, anchors=ANCHORS):
    """The pair wave and the solve as the stage runs them (emtest.align_memory), without storage.
    Returns (transforms document, pair records)."""
    return align(images, resolution=(8, 8, 8), model=cap, reach=reach, downsample_factor=factor,
                 anchors=list(anchors))


def solved(doc) -> dict[int, np.ndarray]:
    return matrices_of(doc)


def solve_prefix(pairs, size: int, length: int, anchors: bool = True, reach: int = 2) -> dict[int, np.ndarray]:
    """The solve over the first `length` sections of a stack of `size` px sections, with the
    anchor pairs or with the neighbour pairs only."""
    sections = {z: {"shape": [size, size], "features": 1, "blank": False} for z in range(length)}
    kept = [p for p in pairs if p["w"] < length and (anchors or p["w"] - p["z"] <= reach)]
    return solved(build(sections, kept, reach=reach))


def quarter_medians(residuals: np.ndarray) -> list[float]:
    """Median residual of each quarter of a stack (rows are sections)."""
    return [float(np.median(q)) for q in np.array_split(residuals, 4)]


def chained(pairs, sections) -> dict[int, np.ndarray]:
    """The plain approach on the same pairs: adjacent pairs' own models, composed."""
    adjacent = {(p["z"], p["w"]): (np.asarray(p["matrix"]) if p["status"] == "ok" else None)
                for p in pairs if p["w"] == p["z"] + 1}
    return chain(list(sections), adjacent)
