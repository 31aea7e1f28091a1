"""Alignment cases built from real sections displaced by known transforms.

The real stack (realdata.py) is already aligned by its authors, so the truth is known once we
displace it ourselves. Section z of a case shows the real section `source[z]` through a known map
T_z taking true coordinates X to section pixels p:

    T_z(X) = B_z (X + u_z(X))          B_z affine, u_z a smooth elastic displacement (or 0)

True coordinates are those of the real section upsampled by `up` (so a 2x case has twice the
pixels, made with one interpolation: each case pixel is sampled from the original section once).
A case section is a `size` x `size` window around the true centre: the source extends beyond the
window by more than any displacement, so sections have no empty borders, as a field of view cut
from a larger section. Photometric changes (gain, offset, noise) and faults (a blank section, a
missing section, an exact duplicate, a re-exposed section) are applied on top.

Everything is drawn from a seeded generator: a case is the same images and truth every time.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from emtest import realdata


@dataclass
class SectionMap:
    """T(X) = B (X + u(X)): true coordinates -> section pixels. `waves` are (kx, ky, phase, ax, ay)
    rows of u = sum a sin(k.X + phase)."""
    matrix: np.ndarray                                   # B, 2x3
    waves: np.ndarray = field(default_factory=lambda: np.zeros((0, 5)))

    def displacement(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ux, uy = np.zeros_like(x), np.zeros_like(y)
        for kx, ky, phase, ax, ay in self.waves:
            s = np.sin(kx * x + ky * y + phase)
            ux += ax * s
            uy += ay * s
        return ux, uy

    def forward(self, points: np.ndarray) -> np.ndarray:
        """(n, 2) true (x, y) -> section (x, y)."""
        ux, uy = self.displacement(points[:, 0], points[:, 1])
        moved = points + np.column_stack([ux, uy])
        return moved @ self.matrix[:, :2].T + self.matrix[:, 2]

    def pull(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """For every section pixel, the true coordinates it shows: X with T(X) = p, by fixed-point
        iteration X = B^-1 p - u(X) (u is small and smooth, so it converges in a few steps)."""
        rows, cols = shape
        inv = np.linalg.inv(self.matrix[:, :2])
        py, px = np.mgrid[0:rows, 0:cols].astype(np.float64)
        qx, qy = px - self.matrix[0, 2], py - self.matrix[1, 2]
        bx = inv[0, 0] * qx + inv[0, 1] * qy
        by = inv[1, 0] * qx + inv[1, 1] * qy
        x, y = bx.copy(), by.copy()
        for _ in range(8 if len(self.waves) else 0):
            ux, uy = self.displacement(x, y)
            x, y = bx - ux, by - uy
        return x, y


@dataclass
class Case:
    name: str
    images: list[np.ndarray]                   # what the aligner sees
    maps: list[SectionMap | None]              # truth per section; None: blank (nothing to place)
    sources: list[int]                         # real section shown by each case section
    centre: np.ndarray                         # true centre of the window
    size: int                                  # window side, section pixels
    faults: dict[int, str] = field(default_factory=dict)   # z -> what is wrong with it
    up: int = 1                                # case pixels per real-section pixel

    @property
    def resolution(self) -> tuple[float, float, float]:
        x, y, z = realdata.RESOLUTION
        return (x / self.up, y / self.up, z)

    def grid(self, points: int = 16, extent: float = 0.8) -> np.ndarray:
        """Points spread over the true region every section sees: `extent` of the window's side."""
        half = extent * self.size / 2
        g = np.linspace(-half, half, points)
        return np.stack(np.meshgrid(g, g), -1).reshape(-1, 2) + self.centre


# -- building cases -------------------------------------------------------------------------------

def _affine(rng, size: int, centre: np.ndarray, shift: float, angle_deg: float, scale: float,
            anisotropy: float, shear_deg: float) -> np.ndarray:
    """B: true -> section, about the window's centre: p = L (X - centre) + size/2 + t."""
    a = np.deg2rad(rng.uniform(-angle_deg, angle_deg))
    s = 1 + rng.uniform(-scale, scale)
    k = 1 + rng.uniform(-anisotropy, anisotropy)
    sh = np.tan(np.deg2rad(rng.uniform(-shear_deg, shear_deg)))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    lin = s * rot @ np.array([[k, sh], [0, 1 / k]])
    t = rng.uniform(-shift, shift, 2)
    return np.hstack([lin, (size / 2 + t - lin @ centre)[:, None]])


def _waves(rng, amplitude: float, wavelength: float, count: int = 4) -> np.ndarray:
    """A smooth random displacement of about `amplitude` px (its largest value over the plane is
    at most amplitude * sqrt(2)), varying over ~`wavelength` px."""
    out = []
    for _ in range(count):
        angle = rng.uniform(0, np.pi)
        k = 2 * np.pi / (wavelength * rng.uniform(0.8, 1.25))
        direction = rng.uniform(0, 2 * np.pi)
        out.append([k * np.cos(angle), k * np.sin(angle), rng.uniform(0, 2 * np.pi),
                    amplitude / np.sqrt(count) * np.cos(direction), amplitude / np.sqrt(count) * np.sin(direction)])
    return np.array(out)


def render(source: np.ndarray, smap: SectionMap, up: int, size: int, base: np.ndarray) -> np.ndarray:
    """The case section: the real section seen through T, `size` x `size`, one cubic interpolation
    from the original pixels. True coordinate X is base-frame pixel (X + 0.5) / up - 0.5, and the
    base maps the original section's pixels to base-frame pixels (align_base.py)."""
    import cv2
    x, y = smap.pull((size, size))
    bx, by = (x + 0.5) / up - 0.5, (y + 0.5) / up - 0.5
    inv = np.linalg.inv(np.vstack([base, [0, 0, 1]]))[:2]
    mx = (inv[0, 0] * bx + inv[0, 1] * by + inv[0, 2]).astype(np.float32)
    my = (inv[1, 0] * bx + inv[1, 1] * by + inv[1, 2]).astype(np.float32)
    out = cv2.remap(source.astype(np.float32), mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return out


def photometric(image: np.ndarray, rng, gain: float, offset: float, noise: float) -> np.ndarray:
    """A section imaged with another gain and offset, and shot noise on top."""
    out = image * rng.uniform(1 - gain, 1 + gain) + rng.uniform(-offset, offset)
    out = out + rng.normal(0, noise, image.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


DISPLACEMENTS = {
    # name: (shift as a share of the window, rotation deg, scale, anisotropy, shear deg)
    "rigid": (0.15, 3.0, 0.0, 0.0, 0.0),
    "affine": (0.15, 3.0, 0.03, 0.03, 2.0),
    "elastic": (0.05, 1.0, 0.01, 0.01, 0.5),
    None: (0.0, 0.0, 0.0, 0.0, 0.0),
}


def build(name: str, displacement: str | None = "affine", up: int = 2, size: int = 576, seed: int = 0,
          sources: list[int] | None = None, elastic: float = 0.0, wavelength: float = 300.0,
          gain: float = 0.15, offset: float = 15.0, noise: float = 4.0, faults: dict[int, str] | None = None
          ) -> Case:
    """A case from the real sections `sources` (default all). `faults`: z (in the case) -> one of
    "blank", "duplicate" (an exact copy of section z-1, same truth), "reexposed" (section z-1's
    tissue imaged again: its own placement, other gain and offset, fresh noise). A missing
    section is made by leaving its index out of `sources`."""
    from emtest.align_base import base
    rng = np.random.default_rng(seed)
    sources = list(range(realdata.SECTIONS)) if sources is None else list(sources)
    faults = dict(faults or {})
    originals = {s: realdata.section(s) for s in set(sources)}
    bases = base()
    full = up * np.array(originals[sources[0]].shape[::-1], np.float64)
    centre = (full - 1) / 2
    images, maps, shown = [], [], []
    repeats = sum(1 for f in faults.values() if f in ("duplicate", "reexposed"))
    next_source = iter(sources)
    for z in range(len(sources) + repeats):
        kind = faults.get(z)
        if kind == "duplicate":
            images.append(images[-1].copy())
            maps.append(maps[-1])
            shown.append(shown[-1])
            continue
        source = shown[-1] if kind == "reexposed" else next(next_source)
        shift, angle, scale, aniso, shear = DISPLACEMENTS[displacement]
        smap = SectionMap(_affine(rng, size, centre, shift * size, angle, scale, aniso, shear),
                          _waves(rng, elastic, wavelength * up) if elastic else np.zeros((0, 5)))
        image = render(originals[source], smap, up, size, bases[source])
        if kind == "blank":
            image = np.full(image.shape, 120 + rng.normal(0, 0.5, image.shape))
            smap = None
        boost = 2.5 if kind == "reexposed" else 1.0
        images.append(photometric(image, rng, gain * boost, offset * boost, noise))
        maps.append(smap)
        shown.append(source)
    return Case(name, images, maps, shown, centre, size, faults, up)


def unrelated(name: str = "unrelated", sections: int = 6, size: int = 512) -> Case:
    """A stack whose sections share no tissue: real sections far apart in the stack, each turned
    by a different multiple of 90 degrees (beyond any rotation the aligner searches) and every
    other one mirrored. Every pair must fail; there is no truth to place them by (maps None), so
    a job on it must fail."""
    images, shown = [], []
    for z in range(sections):
        source = (z * 11) % realdata.SECTIONS
        image = np.rot90(realdata.section(source)[:size, :size], z % 4)
        images.append(np.ascontiguousarray(image[:, ::-1] if z % 2 else image))
        shown.append(source)
    return Case(name, images, [None] * sections, shown, np.array([size / 2, size / 2]), size,
                {z: "unrelated" for z in range(sections)})


def suite(seed: int = 0) -> dict[str, Case]:
    """The cases every alignment claim is measured on (docs/align.md)."""
    return {
        "identity": build("identity", None, up=1, size=448, seed=seed, gain=0, offset=0, noise=0),
        "rigid": build("rigid", "rigid", seed=seed + 1),
        "affine": build("affine", "affine", seed=seed + 2),
        "faults": build("faults", "affine", seed=seed + 3,
                        sources=[s for s in range(realdata.SECTIONS) if s != 12],
                        faults={5: "blank", 18: "duplicate", 24: "reexposed"}),
        "elastic": build("elastic", "elastic", seed=seed + 4, elastic=4.0),
    }
