"""The global solve: one transform per section from every usable pair's correspondences at once
(the linear algebra is in lsq.py).

Each section z gets A_z (section pixel -> frame pixel); a pair's correspondences p (in z) and q
(in w) ask A_z p = A_w q. Why it is built this way:

- Pairs at z+1 and z+2 both enter, so a section whose pairs all fail (blank, damaged) is bridged
  by the z-1 -> z+1 pair, and an error in one pair is outvoted instead of carried down the stack
  as chaining does.
- Each pair's correspondences are weighted by omega = 1 / residual^2 (its own RMS residual,
  floored at MIN_SIGMA so a duplicate's ~0 does not take over): a crisp pair counts more than a
  poor one (z+2 pairs, damaged tissue).
- Correspondences fix only relative transforms, and their errors make the stack's position and
  shape a random walk along z. The anchor pairs (z+8, z+32: options.py) are what stop it. A weak
  term also pulls every section towards rigid, with strength RIGIDITY x the data's own stiffness
  at that section: too weak to bend what the matches say about a section against its neighbours.
  With anchors it hardly matters; without them (tissue that changes too fast for anchors to
  match) it holds the stack's shape: on 200-section stacks with 3% random deformations, 1e-3
  biases the true deformations and 1e-5 lets the walk through.
- The gauge (the one affine the pairs cannot see) is fixed exactly: the mean section transform
  is the identity, so the frame is the average section, neither shrunk nor rotated.
- The model of the whole solve follows the pairs (`stack_model`): a stack whose pairs found only
  translations is solved with translations, so that no section gains freedom the data never asked
  for; a model cap (options.model) is a hard limit on top.
- A pair inconsistent with the solution (its residual there far above its own) is dropped and the
  solve repeated: a wrong pair must not bend its neighbours.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from functions.align import graph, lsq, models

RIGIDITY = 1e-4
RIGID_HOLD = 1e4          # for the rigid model: the rigid term dominates, then an exact projection
MIN_SIGMA = 0.05          # px
STACK_MODEL_SHARE = 0.1   # a model is needed if at least this share of the usable pairs chose it
INCONSISTENT_FACTOR = 3.0
INCONSISTENT_SLACK = 1.0  # px: inconsistent if residual under the solve > max(FACTOR x own, own + SLACK)
MAX_REJECTIONS = 10       # rounds of dropping inconsistent pairs


@dataclass
class PairData:
    z: int
    w: int
    src: np.ndarray           # (n, 2) points in z
    dst: np.ndarray           # (n, 2) the same points in w
    residual: float           # the pair's own RMS residual, px
    weight: float = 1.0       # extra factor (ties between disconnected parts use a small one)
    model: str = "affine"     # the pair's own model choice

    @property
    def omega(self) -> float:
        return self.weight / max(self.residual, MIN_SIGMA) ** 2


@dataclass
class Solution:
    matrices: dict[int, np.ndarray]                       # z -> 2x3, section px -> frame px
    pair_residuals: dict[tuple[int, int], float]          # RMS px under the solution
    rejected: list[tuple[int, int, float]] = field(default_factory=list)  # (z, w, residual)
    splits: list[tuple[int, int]] = field(default_factory=list)  # sections tied across a gap
    model: str = "affine"


def stack_model(pairs: list[PairData], cap: str = "affine") -> str:
    """The most general model that at least STACK_MODEL_SHARE of the pairs needed (a pair that
    chose affine needed rigid freedom too), within the cap."""
    order = models.MODELS
    model = "translation"
    for candidate in order[1:order.index(cap) + 1]:
        needing = sum(order.index(p.model) >= order.index(candidate) for p in pairs)
        if pairs and needing >= STACK_MODEL_SHARE * len(pairs):
            model = candidate
    return model


def solve_once(shapes: dict[int, tuple[int, int]], pairs: list[PairData], model: str = "affine",
               rigidity: float = RIGIDITY) -> dict[int, np.ndarray]:
    """Transforms of every section in `shapes` (all connected through `pairs`) under `model`."""
    frame = lsq.Frame(shapes)
    if model == "translation":
        return lsq.solve_translations(frame, pairs, {z: np.eye(2) for z in frame.zs})
    if model == "rigid":
        near = lsq.solve_affine(frame, pairs, np.full(len(frame.zs), RIGID_HOLD))
        linear = {}
        for z, m in near.items():
            angle = np.arctan2(m[1, 0] - m[0, 1], m[0, 0] + m[1, 1])
            linear[z] = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        return lsq.solve_translations(frame, pairs, linear)
    return lsq.solve_affine(frame, pairs, np.full(len(frame.zs), rigidity))


def pair_residual(matrices: dict[int, np.ndarray], p: PairData) -> float:
    d = models.apply(matrices[p.z], p.src) - models.apply(matrices[p.w], p.dst)
    return float(np.sqrt(np.mean(np.sum(d ** 2, axis=1))))


def solve(shapes: dict[int, tuple[int, int]], pairs: list[PairData], cap: str = "affine",
          rigidity: float = RIGIDITY) -> Solution:
    """Solve, drop pairs inconsistent with the solution (the worst first, and any far beyond the
    limit), and solve again until every remaining pair agrees with it. Sections no pair touches
    get no transform here (see frame.fill); parts the pairs do not connect are tied (graph.py)."""
    pairs = list(pairs)
    model = stack_model(pairs, cap)
    rejected = []
    matrices, found, splits = {}, [], []
    for _ in range(MAX_REJECTIONS + 1):
        solved = sorted({z for p in pairs for z in (p.z, p.w)})
        if not solved:
            return Solution({}, {}, rejected, [], model)
        parts = graph.components(solved, [(p.z, p.w) for p in pairs])
        tied = [PairData(a, b, s, d, graph.TIE_RESIDUAL, graph.TIE_WEIGHT) for a, b, s, d in graph.ties(parts, shapes)]
        splits = [(t.z, t.w) for t in tied]
        matrices = solve_once({z: shapes[z] for z in solved}, pairs + tied, model, rigidity)
        found = [(pair_residual(matrices, p), p) for p in pairs]
        limits = [max(INCONSISTENT_FACTOR * p.residual, p.residual + INCONSISTENT_SLACK) for p in pairs]
        excess = [(r / lim, r, p) for (r, p), lim in zip(found, limits) if r > lim]
        if not excess or len(rejected) >= MAX_REJECTIONS:
            break
        worst = max(e[0] for e in excess)
        drop = {id(p) for ratio, _, p in excess if ratio == worst or ratio > 3}
        rejected += [(p.z, p.w, r) for _, r, p in excess if id(p) in drop]
        pairs = [p for p in pairs if id(p) not in drop]
    return Solution(matrices, {(p.z, p.w): r for r, p in found}, rejected, splits, model)
