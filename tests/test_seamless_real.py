"""The seamless stage's default estimator (patch correlation, seamless/correlation.py) on real
serial sections (../shared/data/isbi-sstem): it recovers a known smooth warp of a real section,
and on real neighbours it never pulls a stack away from what the affine found, where optical flow
does (docs/align.md, "Elastic")."""
from __future__ import annotations

import numpy as np
import pytest

from emcore import fields
from emtest import align_cases, align_memory, align_score, realdata, seamless_memory

pytestmark = pytest.mark.skipif(not realdata.present(), reason=realdata.MISSING)


def test_a_known_warp_of_a_real_section_is_recovered():
    """A real section pulled through a smooth field of up to 3 px (a wavelength of the section's
    side): the estimated field equals it within 0.2 px at the median, 0.5 px at the 95th
    percentile, away from the border where templates cannot reach."""
    from seamless.correlation import CorrelationEstimator
    image = realdata.section(5)
    rows, cols = image.shape
    y, x = np.mgrid[0:rows, 0:cols]
    known = np.stack([3 * np.sin(2 * np.pi * y / rows), 2 * np.cos(2 * np.pi * x / cols)], -1).astype(np.float32)
    target = fields.apply(image, known)            # target(p) = image(p + known(p))
    found = CorrelationEstimator()(image, target)
    inner = (slice(40, -40), slice(40, -40))
    error = np.linalg.norm(found[inner] - known[inner], axis=-1)
    assert np.median(error) < 0.2 and np.percentile(error, 95) < 0.5, (np.median(error), np.percentile(error, 95))
    flat = CorrelationEstimator()(image, image)    # the same section: no displacement anywhere
    assert np.abs(flat).max() < 0.05


def test_an_aligned_real_stack_stays_where_the_affine_put_it(tmp_path):
    """The 30 real sections as published, aligned by emctl's affine, then the seamless stage: the
    pairwise error against the truth moves by less than 0.15 px and the stack's continuity (NCC of
    placed neighbours, no truth needed) does not fall."""
    case = align_cases.suite()["identity"]
    doc, _ = align_memory.align(case.images, resolution=case.resolution)
    matrices = [s["matrix"] for s in doc["sections"]]
    affine = align_score.score(case, align_memory.placements(doc)).figures
    _, job, store = seamless_memory.fields(case.images, doc, case.resolution, str(tmp_path))
    elastic = align_score.score(case, seamless_memory.placements(doc, job, store)).figures
    from emcore.fieldstore import read_field
    found = [read_field(store, job, z) for z in range(len(case.images))]
    before = np.nanmean(align_score.continuity(case.images, matrices))
    after = np.nanmean(align_score.continuity(case.images, matrices, fields=found))
    print(f"identity case: pair median {affine['pair_median']:.2f} -> {elastic['pair_median']:.2f} px, "
          f"continuity {before:.3f} -> {after:.3f}")
    assert abs(elastic["pair_median"] - affine["pair_median"]) < 0.15
    assert after >= before
