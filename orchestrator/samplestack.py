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


def random_affines(sections: int, seed: int, shift: float = 12.0, angle_deg: float = 1.0, scale: float = 0.01):
    """Known displacements per section: 2x3 matrices taking true (x, y) to section (x, y)."""
    rng = np.random.default_rng(seed + 1)
    out = []
    for _ in range(sections):
        a = np.deg2rad(rng.uniform(-angle_deg, angle_deg))
        s = 1 + rng.uniform(-scale, scale)
        m = np.array([[s * np.cos(a), -s * np.sin(a), rng.uniform(-shift, shift)],
                      [s * np.sin(a), s * np.cos(a), rng.uniform(-shift, shift)]])
        out.append(m)
    return out


def write_stack(directory: str, size: int = 1024, sections: int = 64, seed: int = 0, bits: int = 8,
                pattern: str = "img%05d.png", misalign: bool = False) -> list[str]:
    import cv2
    os.makedirs(directory, exist_ok=True)
    affines = random_affines(sections, seed) if misalign else None
    names = []
    for z, image in enumerate(section_images(size, sections, seed, bits)):
        if affines is not None:
            # Displace about the centre so that the stack stays in frame.
            c = size / 2
            m = affines[z].copy()
            m[:, 2] += np.array([c, c]) - m[:, :2] @ np.array([c, c])
            affines[z] = m
            image = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        name = pattern % z
        cv2.imwrite(os.path.join(directory, name), image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        names.append(name)
    truth = {"size": size, "sections": sections, "seed": seed, "bits": bits,
             "affines": [m.tolist() for m in affines] if affines is not None else None}
    with open(os.path.join(directory, "truth.json"), "w") as f:
        json.dump(truth, f)
    return names
