"""`stages.align.transforms_from`: a mask (or second channel) of the same sections rendered with
the transforms another job solved, so that it lies on the aligned image voxel for voxel.

The oracle: the masks are a threshold of the misaligned sections themselves, so once both are
rendered, the rendered mask must equal the threshold of the rendered image (up to the pixels
interpolation moves across the threshold). Then the ways it can be misused, each failing the job
with the option and the sections named, before anything is rendered."""
from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from emcore import tiles
from emcore.alignment import read_transforms
from emcore.job import load_job
from emcore.storage import open_storage
from orchestrator import engine
from orchestrator.local import LocalRunner
from orchestrator.samplestack import write_stack
from orchestrator.status import job_status

SIZE, SECTIONS, THRESHOLD = 256, 6, 128


def _run(config: dict):
    job = load_job(config)
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    LocalRunner(job, store, workers=0).run()
    return store, job_status(store, notes=True)


def _tiles(store) -> np.ndarray:
    volume = tiles.open_tiles(store, read_only=True)
    return np.asarray(volume.read().result())


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    root = tmp_path_factory.mktemp("adopt")
    raw, masks = root / "raw", root / "masks"
    write_stack(str(raw), SIZE, SECTIONS, seed=9, misalign=True)
    masks.mkdir()
    for z in range(SECTIONS):
        image = cv2.imread(str(raw / f"img{z:05d}.png"), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(masks / f"mask{z:03d}.png"), np.where(image > THRESHOLD, 255, 0).astype(np.uint8))
    pyramid = {"raw": True, "keep_tiles": True, "block": [128, 128, 16], "chunk": [64, 64, 8]}
    aligned, status = _run({"id": "em", "source": str(raw), "maxz": SECTIONS - 1, "dest": str(root / "em"),
                            "stages": {"align": {}, "pyramid": pyramid}})
    assert status.state == "complete"
    return root, aligned, pyramid


def test_a_mask_rendered_with_the_images_transforms_lies_on_the_image(stacks):
    root, aligned, pyramid = stacks
    store, status = _run({"id": "mask", "source": str(root / "masks"), "image": "mask%03d.png",
                          "maxz": SECTIONS - 1, "dest": str(root / "mask-out"),
                          "stages": {"align": {"transforms_from": str(root / "em")}, "pyramid": pyramid}})
    assert status.state == "complete", [f.error for w in status.waves for f in w.failed]
    assert [w.wave for w in status.waves][:2] == ["align.adopt", "align.render"], "no section is matched"
    assert any("transforms adopted from" in line for line in status.notes), status.notes
    assert read_transforms(store)["sections"] == read_transforms(aligned)["sections"]
    image, mask = _tiles(aligned), _tiles(store)
    assert image.shape == mask.shape
    for z in range(SECTIONS):
        # Where the rendered image is clearly on one side of the threshold, the mask agrees.
        clear = np.abs(image[:, :, z].astype(int) - THRESHOLD) > 25
        agree = (mask[:, :, z] > 127) == (image[:, :, z] > THRESHOLD)
        assert agree[clear].mean() > 0.995, (z, agree[clear].mean())
    moved = [np.abs(np.asarray(s["matrix"]) - np.eye(2, 3)).max() for s in read_transforms(store)["sections"]]
    assert max(moved) > 1, "the sample is misaligned: the mask was moved, not copied"

@pytest.mark.parametrize("problem", ["no transforms", "sections beyond", "other size"])
def test_misuse_fails_the_job_naming_the_option_and_sections(stacks, tmp_path, problem):
    root, _, pyramid = stacks
    source, maxz, transforms_from = root / "masks", SECTIONS - 1, str(root / "em")
    if problem == "no transforms":
        transforms_from = str(tmp_path / "nothing-here")
    elif problem == "sections beyond":
        source = tmp_path / "longer"
        shutil.copytree(root / "masks", source)
        for z in range(SECTIONS, SECTIONS + 2):
            cv2.imwrite(str(source / f"mask{z:03d}.png"), np.zeros((SIZE, SIZE), np.uint8))
        maxz = SECTIONS + 1
    else:
        source = tmp_path / "small"
        source.mkdir()
        for z in range(SECTIONS):
            cv2.imwrite(str(source / f"mask{z:03d}.png"), np.zeros((SIZE // 2, SIZE), np.uint8))
    store, status = _run({"id": "bad", "source": str(source), "image": "mask%03d.png", "maxz": maxz,
                          "dest": str(tmp_path / "out"),
                          "stages": {"align": {"transforms_from": transforms_from}, "pyramid": pyramid}})
    assert status.state == "failed"
    errors = [f.error for w in status.waves for f in w.failed]
    assert len(errors) == 1 and "stages.align.transforms_from" in errors[0], errors
    expected = {"no transforms": "does not exist: run the job that aligns these sections first",
                "sections beyond": f"places sections 0..{SECTIONS - 1}; this job's sections {SECTIONS}..{SECTIONS + 1} (2)",
                "other size": f"was solved for sections of {SIZE}x{SIZE} px; this job's are {SIZE}x{SIZE // 2}"}[problem]
    assert expected in errors[0], errors[0]
    assert tiles.read_tiles_info(store) is None, "nothing rendered"
