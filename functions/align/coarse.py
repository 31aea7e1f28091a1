"""Where section b is relative to section a, roughly: a rotation and a translation found by
exhaustive search on the coarse copies.

The central part of a (TEMPLATE share of each side, of the smaller of the two sections) is correlated (NCC, every translation at
once) with b turned by each candidate angle; the best peak over all angles wins. Angles are tried
in steps that move the template's corner by about one coarse pixel, so the right angle is always
within half a step of one tried; the finer levels take it from there. Searching exhaustively
rather than matching features is what works on real sections, where the fine texture does not
carry from one section to the next but the layout of compartments does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEMPLATE = 0.5            # share of each side of a used as the template: b may be displaced by
                          # up to (1 - TEMPLATE) / 2 of its side in each direction


@dataclass
class Located:
    model: np.ndarray     # 2x3, a -> b, coarse px
    score: float          # NCC at the peak
    runner_up: float      # best peak at an angle more than two steps away: how distinct the answer is


def _rotation(angle: float, centre: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    lin = np.array([[c, -s], [s, c]])
    return np.hstack([lin, (centre - lin @ centre)[:, None]])


def locate(a: np.ndarray, b: np.ndarray, max_rotation_deg: float) -> Located | None:
    """The rotation about b's centre and the translation that best map a's central part onto b.
    None if a or b is too small or flat to search."""
    import cv2
    h, w = a.shape
    # A share of the smaller section: sections of different sizes still hold the template.
    th, tw = int(min(h, b.shape[0]) * TEMPLATE), int(min(w, b.shape[1]) * TEMPLATE)
    if th < 8 or tw < 8:
        return None
    y0, x0 = (h - th) // 2, (w - tw) // 2
    template = a[y0:y0 + th, x0:x0 + tw]
    if template.std() < 1e-6 or b.std() < 1e-6:
        return None
    step = 1.0 / (0.5 * np.hypot(th, tw))
    count = int(np.ceil(np.deg2rad(max_rotation_deg) / step))
    angles = np.arange(-count, count + 1) * step
    centre_b = (np.array(b.shape[::-1], np.float64) - 1) / 2
    results = []
    for angle in angles:
        # b seen turned by -angle: turned(p) = b(R p) about b's centre, so a ~ turned + shift.
        turn = _rotation(angle, centre_b)
        turned = cv2.warpAffine(b, turn, b.shape[::-1], flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        scores = cv2.matchTemplate(turned, template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (bx, by) = cv2.minMaxLoc(scores)
        results.append((best, bx - x0, by - y0, angle))
    scores = np.array([r[0] for r in results])
    i = int(np.argmax(scores))
    far = np.abs(np.arange(len(results)) - i) > 2
    best, dx, dy, angle = results[i]
    # a(p) ~ turned(p + d) = b(R (p + d)): the model a -> b.
    turn = _rotation(angle, centre_b)
    model = np.hstack([turn[:, :2], (turn[:, :2] @ np.array([dx, dy], np.float64) + turn[:, 2])[:, None]])
    return Located(model, float(best), float(scores[far].max()) if far.any() else -1.0)
