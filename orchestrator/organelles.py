"""What lies inside the demo's neurites (orchestrator/neuropil.py): mitochondria, elongated along
their neurite through several sections, dark, with cristae across them and a darker rim; and
clusters of synaptic vesicles, rings about 40 nm across, so each is cut by one section only and
a bouton's vesicles are drawn anew in every section. All sizes in 4 nm pixels."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CRISTAE_PERIOD = 7.0        # px between cristae (~28 nm)
MIN_RADIUS = 22.0           # px: thinner profiles hold no organelle
VESICLE_PITCH = 11.0        # px between vesicle centres in a cluster


@dataclass
class Mitochondrion:
    cell: int
    offset: np.ndarray      # (2,) from the neurite's seed, px
    z: float                # middle section
    half: float             # half its length, in sections
    a: float                # semi-axes at the middle, px
    b: float
    angle: float            # radians
    phase: float            # of the cristae


@dataclass
class Bouton:
    cell: int
    z0: int
    z1: int                 # sections [z0, z1) hold vesicles
    reach: float            # px from the seed


def mitochondria(rng, radius: np.ndarray, sections: int) -> list[Mitochondrion]:
    """About a third of the neurites large enough (`radius`: each profile's, px) hold one
    mitochondrion somewhere along the stack."""
    out = []
    for cell in np.flatnonzero((rng.random(len(radius)) < 0.35) & (radius > MIN_RADIUS)):
        a = min(radius[cell] * rng.uniform(0.4, 0.6), 40.0)
        out.append(Mitochondrion(int(cell), rng.normal(0, 0.1 * radius[cell], 2), rng.uniform(-4, sections + 4),
                                 rng.uniform(3, 12), a, a * rng.uniform(0.45, 0.75), rng.uniform(0, np.pi),
                                 rng.uniform(0, 2 * np.pi)))
    return out


def boutons(rng, radius: np.ndarray, sections: int) -> list[Bouton]:
    """Some larger profiles are boutons for a few sections: vesicles fill their middle."""
    out = []
    for cell in np.flatnonzero((rng.random(len(radius)) < 0.15) & (radius > MIN_RADIUS)):
        z0 = int(rng.integers(-8, sections))
        out.append(Bouton(int(cell), z0, z0 + int(rng.integers(6, 16)), 0.8 * radius[cell]))
    return out


@dataclass
class Cut:
    """One section's profiles, as organelles need them."""
    owner: np.ndarray       # (h, w) each pixel's neurite
    distance: np.ndarray    # (h, w) px from the membrane
    centre: np.ndarray      # (n, 2) each neurite's profile centroid, x, y

    @classmethod
    def of(cls, owner: np.ndarray, distance: np.ndarray, cells: int) -> "Cut":
        ys, xs = np.indices(owner.shape, dtype=np.float32)
        flat = owner.ravel()
        area = np.maximum(np.bincount(flat, minlength=cells), 1)
        centre = np.column_stack([np.bincount(flat, xs.ravel(), cells), np.bincount(flat, ys.ravel(), cells)])
        return cls(owner, distance, centre / area[:, None])


def draw_mitochondria(dark: np.ndarray, items: list[Mitochondrion], cut: Cut, z: int) -> None:
    """Add each mitochondrion cut by section z to `dark` (how much darker than cytoplasm), inside
    its own neurite's membrane."""
    for m in items:
        t = 1 - ((z - m.z) / m.half) ** 2
        if t <= 0.05:
            continue
        a, b = m.a * np.sqrt(t), m.b * np.sqrt(t)
        cx, cy = cut.centre[m.cell] + m.offset
        r = int(np.ceil(a)) + 4
        x0, y0 = int(cx) - r, int(cy) - r
        box = np.s_[y0:y0 + 2 * r + 1, x0:x0 + 2 * r + 1]
        if x0 < 0 or y0 < 0 or x0 + 2 * r + 1 > dark.shape[1] or y0 + 2 * r + 1 > dark.shape[0]:
            continue
        ys, xs = np.mgrid[box].astype(np.float32)
        c, s = np.cos(m.angle), np.sin(m.angle)
        u = (xs - cx) * c + (ys - cy) * s
        v = -(xs - cx) * s + (ys - cy) * c
        rho = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        inside = np.clip((1 - rho) * b / 1.5, 0, 1)                    # soft edge, ~1.5 px
        cristae = 0.5 + 0.5 * np.sin(2 * np.pi * u / CRISTAE_PERIOD + m.phase)
        rim = np.exp(-(((rho - 1) * b) / 1.3) ** 2)
        own = (cut.owner[box] == m.cell) & (cut.distance[box] > 2)
        dark[box] += own * (inside * (0.2 + 0.14 * cristae) + 0.3 * rim)


def draw_vesicles(dark: np.ndarray, items: list[Bouton], cut: Cut, z: int, rng) -> None:
    """Rings, darker at their membrane, packed over the middle of each bouton's profile: centres
    on a jittered grid one vesicle apart, those too close to the membrane left out."""
    import cv2
    canvas = np.zeros_like(dark)
    h, w = dark.shape
    for bouton in items:
        if not bouton.z0 <= z < bouton.z1:
            continue
        n = int(bouton.reach // VESICLE_PITCH)
        grid = np.arange(-n, n + 1) * VESICLE_PITCH
        centres = cut.centre[bouton.cell] + np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)
        centres += rng.uniform(-0.25, 0.25, centres.shape) * VESICLE_PITCH
        radii = rng.uniform(3.5, 5.0, len(centres))
        x, y = np.clip(np.rint(centres).astype(int), 0, [w - 1, h - 1]).T
        keep = ((cut.owner[y, x] == bouton.cell) & (cut.distance[y, x] > radii + 2)
                & (np.hypot(*(centres - cut.centre[bouton.cell]).T) < bouton.reach) & (rng.random(len(x)) < 0.8))
        for (cx, cy), radius in zip(centres[keep], radii[keep]):
            # cv2 draws at 1/16 px (shift=4): the rings keep their sub-pixel centres and radii.
            cv2.circle(canvas, (int(cx * 16), int(cy * 16)), int(radius * 16), 1.0, 2, cv2.LINE_AA, shift=4)
    dark += 0.35 * canvas
