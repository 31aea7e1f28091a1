"""What a section is matched with: shrunk, band-passed copies, made once per section.

Consecutive 40-50 nm sections are different images. Their fine texture (vesicles, grain, noise)
does not carry from one to the next; what does is the layout of membranes and compartments a few
tens of pixels across (on the real ssTEM stack, the pixel correlation of aligned neighbours is
0.25, and 0.52 after a 4 px blur). SIFT keys on the fine texture and finds almost no true matches
there (docs/align.md), so sections are matched by normalised cross-correlation of patches of
band-passed copies:

  coarse   at most COARSE_SIDE px a side: where the other section is, and its rotation
  medium   shrunk to working pixels of about 8 nm (options.matching_factor), at most MEDIUM_SIDE
           px a side: an affine from a grid of patches

Band-pass: a small blur removes pixel noise, and subtracting a wide blur removes uneven
illumination and the overall brightness, so that a brighter or dimmer section matches the same.
Every copy is float32 with zero mean and unit deviation over the section.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COARSE_SIDE = 256
MEDIUM_SIDE = 4096        # a copy larger than this is shrunk further: 64 MB of float32, whatever
                          # the section's size (the patch grid's cost does not grow with it)
NOISE_SIGMA = 1.0         # working px: the blur that removes pixel noise
LIGHTING_SIGMA = 16.0     # working px: the blur whose removal flattens illumination
MIN_CONTRAST = 1e-3       # of the sample range: below it a section is blank


@dataclass
class Level:
    image: np.ndarray     # float32, band-passed
    factor: int           # section pixels per working pixel


@dataclass
class Prepared:
    section: np.ndarray   # the section itself (uint8 or uint16)
    coarse: Level
    medium: Level
    blank: bool

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.section.shape)


def factor_for(shape: tuple[int, int], side: int, requested: int = 1) -> int:
    """The shrink factor that makes the longer side at most `side` (and at least `requested`)."""
    return max(int(requested), int(np.ceil(max(shape) / side)))


def shrink(image: np.ndarray, factor: int) -> np.ndarray:
    import cv2
    image = image.astype(np.float32)
    if factor == 1:
        return image
    h, w = image.shape
    return cv2.resize(image, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)


def band_pass(image: np.ndarray, noise: float = NOISE_SIGMA, lighting: float = LIGHTING_SIGMA) -> np.ndarray:
    """Blur by `noise`, subtract a blur by `lighting`, scale to unit deviation."""
    import cv2
    out = cv2.GaussianBlur(image, (0, 0), noise) if noise else image.copy()
    out -= cv2.GaussianBlur(out, (0, 0), lighting)
    spread = float(out.std())
    if spread > 0:
        out /= spread
    return out


STRUCTURE_SHRINK = 8      # blank test: shrink by this much ...
MIN_STRUCTURE = 0.25      # ... and a section keeping less of its deviation than this is noise only


def is_blank(image: np.ndarray) -> bool:
    """No tissue: every sample nearly the same (an empty frame), or noise alone (a failed
    exposure). Shrinking by k averages independent noise down to 1/k of its deviation, while
    tissue keeps most of its own (real sections: about half at k = 8), whatever the bit depth."""
    sample = image[::4, ::4].astype(np.float32)
    lo, hi = np.percentile(sample, (0.5, 99.5))
    top = float(np.iinfo(image.dtype).max) if image.dtype.kind == "u" else 1.0
    if hi - lo <= MIN_CONTRAST * top:
        return True
    if min(image.shape) < 4 * STRUCTURE_SHRINK:
        return False
    fine = image.astype(np.float32)
    return bool(shrink(fine, STRUCTURE_SHRINK).std() < MIN_STRUCTURE * fine.std())


def factors(shape: tuple[int, int], requested: int = 1) -> tuple[int, int]:
    """(coarse, medium) shrink factors for a section of `shape`; `requested` (the matching factor)
    shrinks the medium copy at least that much. The coarse factor is a multiple of the medium one."""
    mf = factor_for(shape, MEDIUM_SIDE, requested)
    cf = max(mf, factor_for(shape, COARSE_SIDE))
    return -(-cf // mf) * mf, mf


def prepare(image: np.ndarray, coarse_factor: int, medium_factor: int) -> Prepared:
    """The copies section `image` is matched with, at the given factors (see `factors`)."""
    blank = is_blank(image)
    medium = shrink(image, medium_factor)
    # The coarse copy from the medium one: an area average of an area average is one.
    coarse = shrink(medium, coarse_factor // medium_factor)
    if blank:
        return Prepared(image, Level(np.zeros_like(coarse), coarse_factor),
                        Level(np.zeros_like(medium), medium_factor), True)
    return Prepared(image, Level(band_pass(coarse), coarse_factor), Level(band_pass(medium), medium_factor), False)
