"""The jobs `make demo` runs: every stage on a synthetic neuropil sample, or (`REAL=1`) on the real
ssTEM sections beside the repository, read where they lie.

Synthetic: 768 x 768 x 48 sections of 4 x 4 x 40 nm (orchestrator/neuropil.py), each displaced
by a known affine (`raw/truth.json`) so that alignment has work to do. cc segments the neurites:
their bright cytoplasm on the image's 8 nm scale (`scale: 1`), where pixel noise is halved and
the membranes are still two pixels wide, with faces-only connectivity (6), so that neighbours
never join through a membrane that moved between sections.

Real: the 30 sections of ../shared/data/isbi-sstem/ (4 x 4 x 50 nm), aligned like any stack
(their authors' alignment is off by 20-30 px at pairs 9-10 and 25-26: docs/align.md). A first job
aligns them; the mitochondria annotations, drawn on the sections as published, are rendered with
those same transforms (`transforms_from`) into a volume (lossless); the main job renders the
sections with them too, and labels and meshes the mitochondria, so that image and segmentation lie
on each other.
"""
from __future__ import annotations

import json
import os

SIZE, SECTIONS, SEED = 768, 48, 7
SAMPLE = "neuropil-1"      # recorded in truth.json: a sample written by another version is rewritten


def sample_written(raw: str, size: int = SIZE, sections: int = SECTIONS) -> bool:
    try:
        with open(os.path.join(raw, "truth.json")) as f:
            truth = json.load(f)
    except (OSError, ValueError):
        return False
    return (truth.get("sample"), truth.get("size"), truth.get("sections")) == (SAMPLE, size, sections)


def write_sample(raw: str, size: int = SIZE, sections: int = SECTIONS) -> None:
    """PNG sections and `truth.json` (each section's 2x3 affine taking true to section pixels)."""
    import cv2
    import numpy as np
    from orchestrator.neuropil import RESOLUTION, neuropil_sections
    from orchestrator.samplestack import centred, misaligned_sections, random_affines
    os.makedirs(raw, exist_ok=True)
    affines = [centred(m, size) for m in random_affines(sections, SEED, anisotropy=0.01, shear_deg=1.0)]
    for z, image in enumerate(misaligned_sections(size, affines, SEED, tissue=neuropil_sections)):
        cv2.imwrite(os.path.join(raw, f"img{z:05d}.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    truth = {"sample": SAMPLE, "size": size, "sections": sections, "seed": SEED, "resolution": list(RESOLUTION),
             "affines": [np.asarray(m).tolist() for m in affines]}
    with open(os.path.join(raw, "truth.json"), "w") as f:
        json.dump(truth, f)


def synthetic_jobs(directory: str, sections: int = SECTIONS) -> list[dict]:
    from orchestrator.neuropil import RESOLUTION
    raw = os.path.join(directory, "raw")
    return [{
        "id": "demo", "source": raw, "image": "img%05d.png", "minz": 0, "maxz": sections - 1,
        "dest": os.path.join(directory, "out"), "resolution": list(RESOLUTION),
        "stages": {
            "align": {},
            # The OME-Zarr copy too, so that the README's zarr-python example reads the demo's.
            "pyramid": {"raw": True, "ome_zarr": True},
            # Cytoplasm ~185, membranes ~70 at 8 nm. Four chunks (`chunk` follows from block).
            "cc": {"descriptor": "<dest>/image_raw/", "scale": 1, "ccthresh": 140, "connectivity": 6,
                   "szthresh": 2000, "block": [256, 256, 64]},
            # Meshed at 16 nm (the segmentation's scale 1): a quarter of the triangles of 8 nm, which
            # would make meshing most of the demo's time. Four chunks.
            "mesh": {"mip": 1, "block": [128, 128, 64]},
            # Skeletonized at 16 nm too (TEASAR's scale and const in nm), in the mesh's blocks.
            "skeleton": {"mip": 1, "block": [128, 128, 64]},
        },
    }]


def real_jobs(directory: str, sstem) -> list[dict]:
    """`sstem`: the isbi-sstem folder (emtest.realdata.SSTEM)."""
    masks, aligned = os.path.join(directory, "mito"), os.path.join(directory, "align")
    sections = {"minz": 0, "maxz": _count(sstem / "sections") - 1, "resolution": [4, 4, 50]}
    # The annotations cover the first sections only (24 of 30).
    annotated = {**sections, "maxz": _count(sstem / "mitochondria") - 1}
    return [{
        "id": "demo-real-align", "source": str(sstem / "sections"), "image": "section_%03d.png", **sections,
        "dest": aligned, "stages": {"align": {}},
    }, {
        "id": "demo-real-mito", "source": str(sstem / "mitochondria"), "image": "mito_%03d.png", **annotated,
        "dest": masks, "stages": {
            "align": {"transforms_from": aligned},
            "pyramid": {"raw": True},
        },
    }, {
        "id": "demo-real", "source": str(sstem / "sections"), "image": "section_%03d.png", **sections,
        "dest": os.path.join(directory, "out"),
        "stages": {
            "align": {"transforms_from": aligned},
            "pyramid": {},
            # The annotations are 0 or 255: every annotated voxel is foreground.
            "cc": {"descriptor": os.path.join(masks, "image_raw") + "/", "ccthresh": 127, "connectivity": 26,
                   "szthresh": 200, "block": [512, 512, 64]},
            "mesh": {},
            "skeleton": {},
        },
    }]


def _count(folder) -> int:
    return len(list(folder.glob("*.png")))
