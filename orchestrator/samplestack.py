"""An EM-like sample stack for demos, tests and benchmarks: cell-like compartments bounded by thin
dark membranes, darker organelles, grain and noise; continuous in z so that neighbouring sections
look alike (as serial sections do) and features match between them. Optionally each section is
displaced by a known affine, recorded in `truth.json`, to exercise alignment."""
from __future__ import annotations

import json
import os

import numpy as np


def _smooth_field(rng, shape_lo, size, sections, octaves=3):
    """Sum of octaves of gaussian-smoothed noise, sampled at `sections` z positions, upsampled to
    size x size per section."""
    import cv2
    from scipy.ndimage import gaussian_filter, zoom
    field = np.zeros((sections, shape_lo, shape_lo), np.float32)
    for o in range(octaves):
        lo = max(4, shape_lo >> o)
        noise = rng.standard_normal((max(2, sections // (8 << o) + 2), lo, lo)).astype(np.float32)
        noise = gaussian_filter(noise, sigma=(0.8, 1.5, 1.5), mode="wrap")
        noise = zoom(noise, (sections / noise.shape[0], shape_lo / lo, shape_lo / lo), order=1)[:sections]
        field += noise / (o + 1)
    return [cv2.resize(field[z], (size, size), interpolation=cv2.INTER_CUBIC) for z in range(sections)]


def section_images(size: int, sections: int, seed: int = 0, bits: int = 8):
    rng = np.random.default_rng(seed)
    cells = _smooth_field(rng, max(8, size // 24), size, sections)
    organelles = _smooth_field(rng, max(8, size // 16), size, sections, octaves=1)
    texture = _smooth_field(rng, max(8, size // 6), size, sections, octaves=1)
    top = 255 if bits == 8 else 4095
    for z in range(sections):
        membrane = np.exp(-(np.sin(cells[z] * 6.0) ** 2) / 0.03)
        spots = np.clip((organelles[z] - 1.4) * 3, 0, 1)
        grain = rng.normal(0, 0.04, (size, size)).astype(np.float32)
        image = 0.72 - 0.5 * membrane - 0.3 * spots + 0.08 * np.tanh(cells[z]) + 0.12 * texture[z] + grain
        out = np.clip(image * top, 0, top)
        yield out.astype(np.uint8 if bits == 8 else np.uint16)


def random_affines(sections: int, seed: int, shift: float = 12.0, angle_deg: float = 1.0, scale: float = 0.01,
                   anisotropy: float = 0.0, shear_deg: float = 0.0):
    """Known displacements per section: 2x3 matrices taking true (x, y) to section (x, y), about
    the origin (see `centred`). Rotation, isotropic scale and shift as before; `anisotropy` (a
    relative scale difference between x and y) and `shear_deg` make the displacement a general
    affine, as sections cut and imaged on a real microscope are."""
    rng = np.random.default_rng(seed + 1)
    out = []
    for _ in range(sections):
        a = np.deg2rad(rng.uniform(-angle_deg, angle_deg))
        s = 1 + rng.uniform(-scale, scale)
        m = np.array([[s * np.cos(a), -s * np.sin(a), rng.uniform(-shift, shift)],
                      [s * np.sin(a), s * np.cos(a), rng.uniform(-shift, shift)]])
        out.append(m)
    if anisotropy or shear_deg:
        # Drawn after the rigid part so that the stacks above keep their displacements.
        for m in out:
            k = 1 + rng.uniform(-anisotropy, anisotropy)
            h = np.tan(np.deg2rad(rng.uniform(-shear_deg, shear_deg)))
            m[:, :2] = m[:, :2] @ np.array([[k, h], [0.0, 1.0 / k]])
    return out


def centred(matrix: np.ndarray, size: int) -> np.ndarray:
    """The same displacement taken about the section centre instead of the origin, so that the
    tissue stays in the field of view."""
    m = np.array(matrix, np.float64)
    c = np.array([size / 2, size / 2])
    m[:, 2] += c - m[:, :2] @ c
    return m


# -- EM-like tissue for the misaligned sample -----------------------------------------------------
# Structures have absolute sizes in pixels (as at a fixed nm/pixel), so a large section holds many
# cells rather than a few large ones: feature density, and thus alignment, behaves the same at
# 256 and 8192 pixels. Sections differ from their neighbours by structures fading in and out (at
# rates that make z+1 look more alike than z+2) and by independent grain, but nothing *moves*
# with z: content that drifts coherently (a level set of a field blended along z does, like an
# oblique membrane through thin sections) has, over a small field of view, a net affine part that
# no aligner can tell from a section's displacement, and would make the known displacements an
# unfair truth.

#  name: (feature size px, sections per key frame); a period of 0 is static
_TISSUE = {"cells": (70.0, 0), "organelles": (26.0, 0), "vesicles": (6.0, 0), "texture": (3.0, 0),
           "membrane_fade": (160.0, 16), "organelle_fade": (120.0, 10), "vesicle_fade": (40.0, 4)}


class _Field:
    """Gaussian noise of one feature size; when `period` > 0, continuous in z: key frames every
    `period` sections blended with cos/sin weights (which keeps the variance constant)."""

    def __init__(self, rng, extent: int, feature: float, period: int, sections: int):
        self.lo = int(np.ceil(extent / feature)) + 4
        self.extent, self.period = extent, period
        self.keys = [self._key(rng) for _ in range(sections // period + 2 if period else 1)]

    def _key(self, rng) -> np.ndarray:
        import cv2
        k = cv2.GaussianBlur(rng.standard_normal((self.lo, self.lo)).astype(np.float32), (0, 0), 0.8)
        return k / k.std()

    def at(self, z: int) -> np.ndarray:
        if not self.period:
            return self._upsample(self.keys[0])
        j, t = divmod(z, self.period)
        w = 0.5 * np.pi * t / self.period
        return self._upsample(np.cos(w) * self.keys[j] + np.sin(w) * self.keys[j + 1])

    def _upsample(self, lo: np.ndarray) -> np.ndarray:
        import cv2
        # The central part of the key grid (its border is blurred against nothing).
        scale = (self.lo - 4) / self.extent
        m = np.array([[scale, 0, 2.0], [0, scale, 2.0]])
        return cv2.warpAffine(lo, m, (self.extent, self.extent), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REFLECT)


def tissue_sections(extent: int, sections: int, seed: int = 0, bits: int = 8):
    """EM-like sections (extent x extent, float32 about [0, 1]): membranes bounding cells, dark
    organelles, dense small vesicles, fine texture and grain."""
    rng = np.random.default_rng(seed)
    f = {name: _Field(rng, extent, size, period, sections) for name, (size, period) in _TISSUE.items()}
    membranes = np.sin(f["cells"].at(0) * 2.5)
    np.square(membranes, out=membranes)
    membranes *= -1 / 0.02
    np.exp(membranes, out=membranes)                          # thin dark level sets
    organelles = np.clip((f["organelles"].at(0) - 1.2) * 2.5, 0, 1)
    vesicles = np.clip((f["vesicles"].at(0) - 1.5) * 2.0, 0, 1)
    base = 0.74 + 0.04 * f["texture"].at(0)
    for z in range(sections):
        image = base.copy()
        image -= membranes * np.clip(0.42 + 0.15 * f["membrane_fade"].at(z), 0.1, 0.6)
        image -= organelles * np.clip(0.22 + 0.15 * f["organelle_fade"].at(z), 0.0, 0.4)
        image -= vesicles * np.clip(0.15 + 0.25 * f["vesicle_fade"].at(z), 0.0, 0.45)
        image += rng.normal(0, 0.035, image.shape).astype(np.float32)
        yield image


def misaligned_sections(size: int, affines, seed: int = 0, bits: int = 8, tissue=None):
    """Sections of EM-like tissue, each displaced by its affine (true (x, y) -> section (x, y), as
    `random_affines(...)` centred). The tissue extends beyond the true frame by a margin larger
    than any displacement, so sections have no empty borders: a field of view cut from a larger
    section, as on the microscope. `tissue(extent, sections, seed)` yields the undisplaced sections
    (float32, about [0, 1]); default `tissue_sections`."""
    import cv2
    reach = max(np.abs(_corner_shift(m, size)).max() for m in affines)
    pad = int(np.ceil(reach)) + 8
    top = 255 if bits == 8 else 4095
    sections = (tissue or tissue_sections)(size + 2 * pad, len(affines), seed)
    for m, tissue in zip(affines, sections):
        # section(p) = tissue(M^-1 p + pad): warp with the inverse map, shifted by the margin.
        inv = cv2.invertAffineTransform(np.asarray(m, np.float64))
        inv[:, 2] += pad
        image = cv2.warpAffine(tissue, inv, (size, size), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)
        yield np.clip(image * top, 0, top).astype(np.uint8 if bits == 8 else np.uint16)


def _corner_shift(m, size: int) -> np.ndarray:
    """How far the section's corners come from, in true coordinates."""
    import cv2
    inv = cv2.invertAffineTransform(np.asarray(m, np.float64))
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    return corners @ inv[:, :2].T + inv[:, 2] - corners


def write_stack(directory: str, size: int = 1024, sections: int = 64, seed: int = 0, bits: int = 8,
                pattern: str = "img%05d.png", misalign: bool = False) -> list[str]:
    """Write the sample as PNG files and `truth.json`. With `misalign`, EM-like tissue displaced by
    known affines (rotation up to 1 degree, 1% scale, 1% anisotropy, 1 degree shear, 12 px shift);
    `truth.json["affines"]` holds each section's 2x3 matrix taking true to section pixels."""
    import cv2
    os.makedirs(directory, exist_ok=True)
    if misalign:
        affines = [centred(m, size) for m in random_affines(sections, seed, anisotropy=0.01, shear_deg=1.0)]
        images = misaligned_sections(size, affines, seed, bits)
    else:
        affines, images = None, section_images(size, sections, seed, bits)
    names = []
    for z, image in enumerate(images):
        name = pattern % z
        cv2.imwrite(os.path.join(directory, name), image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        names.append(name)
    truth = {"size": size, "sections": sections, "seed": seed, "bits": bits,
             "affines": [m.tolist() for m in affines] if affines is not None else None}
    with open(os.path.join(directory, "truth.json"), "w") as f:
        json.dump(truth, f)
    return names
