"""Where the real serial-section EM data lives, and reading it.

The data is not in the repository (its terms and size): it sits beside it, at
`../shared/data/isbi-sstem/` from the repository root (README.md there), or wherever
`EMCTL_REAL_DATA` points. Tests that need it skip with `MISSING` as the reason where it is absent.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SSTEM = Path(os.environ.get("EMCTL_REAL_DATA", ROOT.parent / "shared" / "data" / "isbi-sstem"))
SECTIONS = 30            # section_000.png .. section_029.png, 512 x 512, 4 x 4 x 50 nm
RESOLUTION = (4, 4, 50)


def present() -> bool:
    return (SSTEM / "sections" / "section_000.png").is_file()


MISSING = f"real EM sections not found at {SSTEM} (set EMCTL_REAL_DATA to the isbi-sstem folder)"


def section(z: int) -> np.ndarray:
    """One real section, (rows, cols) uint8."""
    import cv2
    path = SSTEM / "sections" / f"section_{z:03d}.png"
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise FileNotFoundError(path)
    return image


def sections(indices=None) -> list[np.ndarray]:
    return [section(z) for z in (range(SECTIONS) if indices is None else indices)]
