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
- A pair inconsistent with the solution is dropped and the solve repeated: a wrong pair must not
  bend its neighbours. A pair's disagreement is the part of its misfit under the solution beyond
  its own scatter, sqrt(solve residual^2 - own residual^2): how far the solution's relation of
  the two sections is from what the pair measured. On real sections every pair disagrees a
  little (the tissue's oblique structures give each pair its own few-pixel answer); a wrong pair
  disagrees far more than the typical pair, so the limit is relative to the pairs' median
  disagreement, and the worst pair goes first. (A limit relative to each pair's own scatter drops
  the crispest right pair when one wrong pair drags the solution: its scatter is the smallest.)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from functions.align import graph, lsq, models

RIGIDITY = 1e-4
SHAPE_PRIOR = 0.01        # of a section's half-side: how far from rigid a section's shape is a priori
PLACE = 0.015             # of a section's half-side: a priori, where it was imaged (see solve_once)
RIGID_HOLD = 1e4          # for the rigid model: the rigid term dominates, then an exact projection
MIN_SIGMA = 0.05          # px
STACK_MODEL_SHARE = 0.1   # a model is needed if at least this share of the usable pairs chose it
INCONSISTENT_FACTOR = 4.0  # times the pairs' robust disagreement (1.4826 x median) ...
INCONSISTENT_FLOOR = 1.0   # ... or this many px, whichever is more: beyond it, a pair is inconsistent
MAX_REJECTIONS = 10       # rounds of dropping inconsistent pairs
VETO_SIGMAS = 3.0         # routes agree, and a pair differs, beyond this many standard errors
SCREEN_FACTOR = 2.0       # a longer pair is kept if it disagrees with the neighbour pairs by at most
SCREEN_SHARE = 0.01       # this many times its own scatter, or this share of the section's side


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
    rejected: list[tuple[int, int, float]] = field(default_factory=list)  # (z, w, disagreement px)
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


def _place(frame) -> float:
    return PLACE * float(frame.scale.mean())


def solve_once(shapes: dict[int, tuple[int, int]], pairs: list[PairData], model: str = "affine",
               rigidity: float = RIGIDITY) -> dict[int, np.ndarray]:
    """Transforms of every section in `shapes` (all connected through `pairs`) under `model`."""
    frame = lsq.Frame(shapes)
    if model == "translation":
        return lsq.solve_translations(frame, pairs, {z: np.eye(2) for z in frame.zs}, _place(frame))
    if model == "rigid":
        near = lsq.solve_affine(frame, pairs, np.full(len(frame.zs), RIGID_HOLD), place=_place(frame))
        linear = {}
        for z, m in near.items():
            angle = np.arctan2(m[1, 0] - m[0, 1], m[0, 0] + m[1, 1])
            linear[z] = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        return lsq.solve_translations(frame, pairs, linear, _place(frame))
    return lsq.solve_affine(frame, pairs, np.full(len(frame.zs), rigidity), SHAPE_PRIOR * float(frame.scale.mean()),
                            _place(frame))


def pair_residual(matrices: dict[int, np.ndarray], p: PairData) -> float:
    d = models.apply(matrices[p.z], p.src) - models.apply(matrices[p.w], p.dst)
    return float(np.sqrt(np.mean(np.sum(d ** 2, axis=1))))


def _tied(pairs: list[PairData], shapes) -> tuple[list[int], list[PairData]]:
    solved = sorted({z for p in pairs for z in (p.z, p.w)})
    parts = graph.components(solved, [(p.z, p.w) for p in pairs])
    return solved, [PairData(a, b, s, d, graph.TIE_RESIDUAL, graph.TIE_WEIGHT) for a, b, s, d in graph.ties(parts, shapes)]


def _model(p: PairData) -> np.ndarray:
    return models.fit("affine", p.src, p.dst) if len(p.src) >= 3 else models.fit("translation", p.src, p.dst)


def _apart(a: np.ndarray, b: np.ndarray, shape: tuple[int, int]) -> float:
    """Largest distance between where two maps put the corners of a section of `shape`."""
    h, w = shape
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64)
    return float(np.abs(models.apply(a, corners) - models.apply(b, corners)).max())


def _uncertainty(p: PairData, shape: tuple[int, int]) -> float:
    """Standard error (px) of the pair's affine at the worst corner of section z: its points'
    scatter per axis times sqrt(1/n + d' (n C)^-1 d)."""
    n = len(p.src)
    cov = np.cov(p.src.T, bias=True) * n if n >= 3 else np.zeros((2, 2))
    if abs(np.linalg.det(cov)) < 1e-9:
        return float("inf")
    h, w = shape
    d = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) - p.src.mean(axis=0)
    leverage = 1 / n + np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d)
    return float(max(p.residual, MIN_SIGMA) / np.sqrt(2) * np.sqrt(leverage.max()))


def wrong_neighbours(near: list[PairData], far: list[PairData], shapes) -> list[PairData]:
    """Neighbour pairs that both detours around them contradict, while agreeing with each other:
    z -> z-1 -> z+1 (pairs (z-1, z) and (z-1, z+1)) and z -> z+2 -> z+1 (pairs (z, z+2) and
    (z+1, z+2)). Two independent routes that agree outvote the one pair; where the longer pairs
    are themselves unreliable (real sections), their routes disagree and the neighbour stands."""
    by = {(p.z, p.w): p for p in near + far}
    wrong = []
    for p in near:
        z = p.z
        legs = [(by.get((z - 1, z)), by.get((z - 1, z + 1))), (by.get((z, z + 2)), by.get((z + 1, z + 2)))]
        routes = []
        for first, second in legs:
            if first is None or second is None:
                continue
            spread = _uncertainty(first, shapes[first.z]) + _uncertainty(second, shapes[second.z])
            if first.z == second.z:                                      # z -> z-1 -> z+1
                route = models.compose(_model(second), models.invert(_model(first)))
            else:                                                        # z -> z+2 -> z+1
                route = models.compose(models.invert(_model(second)), _model(first))
            routes.append((route, spread))
        if len(routes) < 2:
            continue
        own = _uncertainty(p, shapes[z])
        (r0, u0), (r1, u1) = routes
        agree = _apart(r0, r1, shapes[z]) <= VETO_SIGMAS * (u0 + u1) + INCONSISTENT_FLOOR
        if agree and min(_apart(r, _model(p), shapes[z]) - VETO_SIGMAS * (u + own) for r, u in routes) > \
                INCONSISTENT_FLOOR:
            wrong.append(p)
    return wrong


def screen(shapes: dict[int, tuple[int, int]], pairs: list[PairData], model: str, rigidity: float
           ) -> tuple[list[PairData], list[tuple[int, int, float]]]:
    """Pairs further apart than neighbours enter only if they agree with what the neighbour
    pairs say. On real sections z and z+2 share much less tissue than z and z+1 (the peaks of a
    z+2 pair's patches are ~0.3 instead of ~0.5), and a z+2 pair can agree with itself on a model
    tens of pixels off: a long band of fibres correlates with itself shifted along its length.
    Measured on the real-data suite, most such pairs are wrong, so they cannot outvote the
    neighbour pairs in a joint solve. A neighbour pair is dropped first only where two detours
    around it agree with each other and not with it (`wrong_neighbours`). A longer pair that
    links sections the neighbour pairs leave apart (a failed or missing neighbour pair) is kept
    unchecked: it is the only way across. Returns (pairs kept, rejected (z, w, disagreement))."""
    near = [p for p in pairs if p.w - p.z == 1]
    far = [p for p in pairs if p.w - p.z > 1]
    if not near or not far:
        return pairs, []
    vetoed = wrong_neighbours(near, far, shapes)
    rejected = []
    near = [p for p in near if not any(p is v for v in vetoed)]
    solved = sorted({z for p in pairs for z in (p.z, p.w)})
    part = {z: i for i, group in enumerate(graph.components(solved, [(p.z, p.w) for p in near])) for z in group}
    bridging = [p for p in far if part[p.z] != part[p.w]]
    base = near + bridging
    zs, tied = _tied(base, shapes)
    matrices = solve_once({z: shapes[z] for z in zs}, base + tied, model, rigidity)
    if vetoed:
        rejected = [(p.z, p.w, np.sqrt(max(0.0, pair_residual(matrices, p) ** 2 - p.residual ** 2))) for p in vetoed]
    kept = list(base)
    for p in far:
        if any(p is b for b in bridging):
            continue
        if p.z not in matrices or p.w not in matrices:
            kept.append(p)
            continue
        disagreement = np.sqrt(max(0.0, pair_residual(matrices, p) ** 2 - p.residual ** 2))
        side = max(max(shapes[p.z]), max(shapes[p.w]))
        if disagreement <= max(SCREEN_FACTOR * p.residual, SCREEN_SHARE * side):
            kept.append(p)
        else:
            rejected.append((p.z, p.w, disagreement))
    return kept, rejected


def solve(shapes: dict[int, tuple[int, int]], pairs: list[PairData], cap: str = "affine",
          rigidity: float = RIGIDITY) -> Solution:
    """Screen the longer pairs (`screen`), solve, drop pairs inconsistent with the solution (the
    worst first, and any far beyond the limit), and solve again until every remaining pair agrees
    with it. Sections no pair touches get no transform here (see frame.fill); parts the pairs do
    not connect are tied (graph.py)."""
    pairs = list(pairs)
    model = stack_model(pairs, cap)
    pairs, rejected = screen(shapes, pairs, model, rigidity)
    matrices, found, splits = {}, [], []
    screened = len(rejected)
    for _ in range(MAX_REJECTIONS + 1):
        solved, tied = _tied(pairs, shapes)
        if not solved:
            return Solution({}, {}, rejected, [], model)
        splits = [(t.z, t.w) for t in tied]
        matrices = solve_once({z: shapes[z] for z in solved}, pairs + tied, model, rigidity)
        found = [(pair_residual(matrices, p), p) for p in pairs]
        disagreement = np.array([np.sqrt(max(0.0, r ** 2 - p.residual ** 2)) for r, p in found])
        side = max(max(shape) for shape in shapes.values())
        limit = max(INCONSISTENT_FACTOR * 1.4826 * float(np.median(disagreement)), INCONSISTENT_FLOOR,
                    SCREEN_SHARE * side)
        if not (disagreement > limit).any() or len(rejected) - screened >= MAX_REJECTIONS:
            break
        worst = int(np.argmax(disagreement))
        drop = {id(found[worst][1])} | {id(p) for (_, p), d in zip(found, disagreement) if d > 3 * limit}
        rejected += [(p.z, p.w, float(d)) for (_, p), d in zip(found, disagreement) if id(p) in drop]
        pairs = [p for p in pairs if id(p) not in drop]
    return Solution(matrices, {(p.z, p.w): r for r, p in found}, rejected, splits, model)
