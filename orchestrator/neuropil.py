"""Neuropil as serial-section TEM shows it, for the demo: the profiles of many neurites cut across,
bounded by dark membranes, some holding a mitochondrion (dark, with cristae) or a cluster of
synaptic vesicles (small rings), over a cytoplasm whose grain differs from section to section.

The tissue is a 3-D object, so the demo's segmentation and meshes are real 3-D shapes: each neurite
is a tube running through the stack, and a section's profiles are the power diagram of the
neurites' seeds, bent by a smooth displacement field that changes slowly with z (membranes
shift by up to a pixel or so between sections, in no common direction, as oblique membranes do).
The bending is one-to-one, so no profile appears or vanishes inside the stack, and the membranes
lie on the diagram's edges, so every profile is closed: the cytoplasm of one neurite never
touches another's, in a section or across sections, and thresholding the image segments the
neurites (what the demo's cc does, as a stand-in for a membrane predictor's output). Mitochondria
and boutons last several sections; vesicles (40 nm, about a section thick) and the grain are drawn
anew in each section.

Sizes are in pixels of RESOLUTION (4 nm, as the ssTEM sections under ../shared/data/isbi-sstem/),
so a larger section holds more neurites, not larger ones.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESOLUTION = (4, 4, 40)     # nm per pixel, nm per section
SPACING = 44.0              # px between seeds before thinning (profiles ~150-500 nm across)
BEND = 9.0                  # px: amplitude of the displacement field (sd per axis)
BEND_SIZE = 30.0            # px: its feature size (gradients well below 1: one-to-one)
BEND_PERIOD = 12            # sections between its key frames: membranes move ~1 px per section
MEMBRANE_WIDTH = 2.0        # px: fall-off of the membrane's darkness on each side
CORE = 1.5                  # px: half the membrane's darkest band
ROUNDING = 7                # px: radius of the profiles' rounded corners
NEIGHBOURS = 3              # seeds whose power lines with the nearest one are measured
GRID = 2                    # the power diagram is computed every GRID px, then interpolated


@dataclass
class Neurites:
    seeds: np.ndarray        # (n, 2) x, y
    lift: np.ndarray         # (n,) power-diagram weight as a third coordinate (smaller: a larger profile)
    shade: np.ndarray        # (n,) cytoplasm brightness offset (a few neurites are darker)


def neurites(rng, extent: int) -> Neurites:
    """Seeds on a jittered grid, thinned where a smooth field says so: bundles of thin axons beside
    larger dendrites; power weights vary the profiles' sizes further."""
    count = int(np.ceil(extent / SPACING)) + 2
    ij = np.stack(np.meshgrid(np.arange(count), np.arange(count)), -1).reshape(-1, 2).astype(np.float64)
    seeds = (ij - 1 + 0.5 + rng.uniform(-0.35, 0.35, ij.shape)) * SPACING
    sparse = _noise(rng, (count, count), 2.0).ravel()
    seeds = seeds[rng.random(len(seeds)) < np.clip(0.7 - 0.35 * sparse, 0.2, 1.0)]
    # Power weights w as the lifted coordinate sqrt(C - w): a 3-D nearest neighbour of (x, y, 0)
    # is the seed of least power distance |x - p|^2 - w, exactly.
    weight = (0.4 * SPACING) ** 2 * rng.lognormal(0, 0.6, len(seeds))
    lift = np.sqrt(weight.max() - weight)
    shade = np.where(rng.random(len(seeds)) < 0.08, -0.13, 0.0) + rng.normal(0, 0.025, len(seeds))
    return Neurites(seeds, lift, shade)


class Diagram:
    """The power diagram of the seeds, unbent: each pixel's neurite and its distance (px) to the
    nearest power line, over the section and a margin the bending reaches into. Computed once
    (every GRID px, then interpolated); each section bends it (`section`)."""

    def __init__(self, cells: Neurites, extent: int):
        import cv2
        from scipy.spatial import cKDTree
        self.margin = int(4 * BEND) + GRID
        side = -(-(extent + 2 * self.margin) // GRID) + 1
        g = np.arange(side, dtype=np.float32) * GRID - self.margin
        x, y = np.meshgrid(g, g)
        points = np.column_stack([x.ravel(), y.ravel(), np.zeros(x.size, np.float32)])
        lifted, nearest = cKDTree(np.column_stack([cells.seeds, cells.lift])).query(points, k=NEIGHBOURS + 1)
        power = np.square(lifted, dtype=np.float32)      # |x - p|^2 - w, up to a constant
        apart = np.linalg.norm(cells.seeds[:, None] - cells.seeds[None], axis=-1).astype(np.float32)
        first = nearest[:, 0]
        # Distance to the nearest power line between the least-power seed and another (the least
        # of the candidates, so it is continuous where the second-nearest seed changes).
        distance = np.full(len(points), np.inf, np.float32)
        for k in range(1, NEIGHBOURS + 1):
            gap = (power[:, k] - power[:, 0]) / (2 * apart[first, nearest[:, k]] + 1e-6)
            np.minimum(distance, gap, out=distance)
        full = (extent + 2 * self.margin,) * 2
        scale = np.array([[1.0 / GRID, 0, 0], [0, 1.0 / GRID, 0]])
        # The distance is interpolated; the neurite is taken from the nearest grid point (its
        # blocky edge lies under the membrane).
        self.distance = cv2.warpAffine(distance.reshape(side, side), scale, full,
                                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        self.owner = cv2.warpAffine(first.reshape(side, side).astype(np.float32), scale, full,
                                    flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        self.extent = extent

    def section(self, bend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each pixel's neurite and its distance (px) from the membrane (0 on it), for one section
        bent by `bend` (2, extent, extent): the diagram's straight edges become membranes' gentle
        curves. An opening rounds the profiles' corners, leaving the dark triangles of
        extracellular space where three neurites meet."""
        import cv2
        grid = np.arange(self.extent, dtype=np.float32) + self.margin
        map_x, map_y = grid[None, :] + bend[0], grid[:, None] + bend[1]
        distance = cv2.remap(self.distance, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        owner = cv2.remap(self.owner, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ROUNDING + 1, 2 * ROUNDING + 1))
        inside = cv2.morphologyEx((distance > CORE).astype(np.uint8), cv2.MORPH_OPEN, disk)
        return owner.astype(np.int32), cv2.distanceTransform(inside, cv2.DIST_L2, 3)


class Bend:
    """The displacement field (2, extent, extent), continuous in z: key frames every BEND_PERIOD
    sections blended with cos/sin weights (which keeps its amplitude constant), drawn coarse and
    upsampled."""

    def __init__(self, rng, extent: int, sections: int):
        self.extent = extent
        side = -(-extent // 8) + 1
        self.keys = [np.stack([_noise(rng, (side, side), BEND_SIZE / 8) for _ in range(2)]) * BEND
                     for _ in range(sections // BEND_PERIOD + 2)]

    def at(self, z: int) -> np.ndarray:
        import cv2
        j, t = divmod(z, BEND_PERIOD)
        w = 0.5 * np.pi * t / BEND_PERIOD
        coarse = (np.cos(w) * self.keys[j] + np.sin(w) * self.keys[j + 1]).astype(np.float32)
        scale = np.array([[1 / 8, 0, 0], [0, 1 / 8, 0]])
        return np.stack([cv2.warpAffine(c, scale, (self.extent, self.extent), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                        borderMode=cv2.BORDER_REPLICATE) for c in coarse])


def _noise(rng, shape, sigma: float) -> np.ndarray:
    """Gaussian noise smoothed to `sigma` px, scaled to unit standard deviation."""
    import cv2
    field = cv2.GaussianBlur(rng.standard_normal(shape, dtype=np.float32), (0, 0), sigma)
    return field / field.std()


def _smooth_noise(rng, extent: int, sigma: float) -> np.ndarray:
    """`_noise` of a large `sigma`, drawn at a quarter of it per pixel and upsampled (cheaper)."""
    import cv2
    step = max(1, int(sigma // 4))
    return cv2.resize(_noise(rng, (-(-extent // step),) * 2, sigma / step), (extent, extent),
                      interpolation=cv2.INTER_LINEAR)


def neuropil_sections(extent: int, sections: int, seed: int = 0, truth: bool = False):
    """EM-like sections (extent x extent, float32, about [0, 1]) of one block of neuropil; with
    `truth`, (section, each pixel's neurite) pairs."""
    import cv2
    from orchestrator.organelles import Cut, boutons, draw_mitochondria, draw_vesicles, mitochondria
    rng = np.random.default_rng(seed)
    cells = neurites(rng, extent)
    diagram = Diagram(cells, extent)
    bend = Bend(rng, extent, sections)
    width = MEMBRANE_WIDTH * (1 + 0.15 * _smooth_noise(rng, extent, 40))
    # Organelles are sized to their neurite's profile, measured in the middle section.
    owner, _ = diagram.section(bend.at(sections // 2))
    radius = np.sqrt(np.bincount(owner.ravel(), minlength=len(cells.seeds)) / np.pi)
    mitos = mitochondria(rng, radius, sections)
    clusters = boutons(rng, radius, sections)
    shade = (0.72 + cells.shade).astype(np.float32)
    for z in range(sections):
        owner, distance = diagram.section(bend.at(z))
        image = shade[owner]
        image += 0.045 * _noise(rng, image.shape, 1.0) + 0.03 * _smooth_noise(rng, extent, 5.0)
        # Membranes cut obliquely look paler: a contrast that varies along each membrane and with z.
        contrast = 0.45 + 0.03 * np.clip(_smooth_noise(rng, extent, 32.0), -1.5, 1.5)
        image -= contrast * np.exp(-np.square(distance / width))
        dark = np.zeros_like(image)
        cut = Cut.of(owner, distance, len(cells.seeds))
        draw_mitochondria(dark, mitos, cut, z)
        draw_vesicles(dark, clusters, cut, z, rng)
        image -= dark
        image = cv2.GaussianBlur(image, (0, 0), 0.7)
        image *= rng.normal(1, 0.03)                                   # section thickness, exposure
        image += rng.normal(0, 0.015) + 0.03 * rng.standard_normal(image.shape, dtype=np.float32)
        yield (image, owner) if truth else image
