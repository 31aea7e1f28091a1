"""Checks that the stacks with known displacements (emtest/align_stacks.py) are what they claim."""
from __future__ import annotations

import numpy as np

from emtest.align_stacks import KINDS, known_stack
from functions.align import models
from orchestrator.samplestack import centred, random_affines


def test_truth_undoes_the_displacement():
    """Warping each section back by its truth gives the same tissue in every section (up to the
    content's slow change and noise), and far better than the raw sections agree."""
    import cv2
    size = 256
    images, truth = known_stack("affine", size, 3, seed=5)
    back = [cv2.warpAffine(im, models.invert(m), (size, size), flags=cv2.INTER_LINEAR) for im, m in zip(images, truth)]
    inner = (slice(32, -32), slice(32, -32))

    def ncc(a, b):
        a, b = a[inner].astype(float).ravel(), b[inner].astype(float).ravel()
        return np.corrcoef(a, b)[0, 1]

    assert ncc(back[0], back[1]) > 0.8
    assert ncc(back[0], back[1]) > ncc(images[0], images[1]) + 0.3


def test_kinds_have_the_displacements_they_name():
    for kind in KINDS:
        truth = [centred(m, 256) for m in random_affines(20, 0, **KINDS[kind])]
        lin = np.array([m[:, :2] for m in truth])
        if kind == "translation":
            assert np.allclose(lin, np.eye(2))
        elif kind == "rigid":
            assert np.allclose(lin @ lin.transpose(0, 2, 1), np.eye(2))
        else:
            sv = np.linalg.svd(lin, compute_uv=False)
            assert (sv[:, 0] / sv[:, 1]).max() > 1.03    # anisotropic scale and shear present
