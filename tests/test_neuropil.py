"""The demo's neuropil sample is what the demo's cc stage assumes: thresholding its cytoplasm on
the 8 nm scale (the demo's `scale: 1`, `ccthresh`, 6-connectivity) gives each neurite its own
segment, across sections too, checked against the generator's own truth (each pixel's neurite)."""
from __future__ import annotations

import cc3d
import numpy as np

from orchestrator.demojobs import synthetic_jobs
from orchestrator.neuropil import neuropil_sections


def test_thresholding_segments_one_neurite_per_segment():
    cc = synthetic_jobs("/unused")[0]["stages"]["cc"]
    size, sections = 256, 24
    images, owners = zip(*neuropil_sections(size, sections, seed=11, truth=True))
    volume = np.clip(np.stack(images) * 255, 0, 255).astype(np.uint8).astype(np.float32)
    half = volume.reshape(sections, size // 2, 2, size // 2, 2).mean(axis=(2, 4))      # scale 1: 2x2 mean
    owner = np.stack(owners)[:, ::2, ::2]
    labels = cc3d.connected_components(half > cc["ccthresh"], connectivity=cc["connectivity"])
    labels = cc3d.dust(labels, 200, connectivity=cc["connectivity"])
    fg = labels > 0
    pairs, counts = np.unique(np.stack([labels[fg], owner[fg]]), axis=1, return_counts=True)
    segments = np.unique(pairs[0])
    # A segment's voxels belong to one neurite, up to the pixel or so where the truth's edge and
    # the drawn membrane's middle differ.
    purity = [counts[pairs[0] == s].max() / counts[pairs[0] == s].sum() for s in segments]
    neurites = len(np.unique(owner))
    print(f"{len(segments)} segments, {len(np.unique(owner))} neurites, least purity {min(purity):.3f}")
    assert min(purity) > 0.9, sorted(purity)[:5]
    assert 0.8 * neurites < len(segments) <= 1.2 * neurites, (len(segments), neurites)
