"""The seamless stage run in this process on a list of images and an align document (the
stage's own waves, in order, on a job root in a directory: TensorStore's memory store is not
shared between opens), and score placements of its result."""
from __future__ import annotations

import cv2
import numpy as np


def fields(images: list[np.ndarray], doc: dict, resolution, directory: str, **options) -> tuple[dict, object, object]:
    """Run every seamless wave on a job rooted in `directory`; returns (summaries by wave, job,
    store)."""
    from emcore import jobroot
    from emcore.job import validate_job
    from emcore.storage import open_storage
    from emtest.inprocess import run_stage
    from emcore.alignment import write_transforms
    from functions.align.options import OPTIONS as ALIGN
    from seamless.options import OPTIONS
    from seamless.stage import STAGE
    root = f"file://{directory.rstrip('/')}/"
    store, source = open_storage(root), open_storage(root + "raw/")
    for z, image in enumerate(images):
        source.write(f"img{z:05d}.png", cv2.imencode(".png", image)[1].tobytes())
    config = {"id": "seamless-memory", "source": source.url, "dest": store.url, "maxz": len(images) - 1,
              "resolution": list(resolution), "stages": {"align": {}, "seamless": options}}
    job = validate_job(config, (ALIGN, OPTIONS))
    jobroot.create_job(store, job.to_json().encode())
    write_transforms(store, doc)
    return run_stage(STAGE, job, store), job, store


def placements(doc: dict, job, store) -> dict:
    """Score placements of affine and field together (emtest.align_score.field_placement)."""
    from emcore.fieldstore import read_field
    from emtest.align_score import field_placement
    out = {}
    for s in doc["sections"]:
        if "bridged" in s["flags"]:
            out[s["z"]] = None
            continue
        field, mip = read_field(store, job, s["z"])
        out[s["z"]] = field_placement(s["matrix"], field, mip)
    return out
