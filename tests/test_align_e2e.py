"""End to end: a misaligned sample stack (with a blank section) through align -> pyramid with the
local runner, checked against the stack's truth.json: the stored transforms undo the known
displacements, the rendered tiles and the pyramid show the sections in register, the status
report names the blank section, and a retried pair task rewrites the same bytes."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from emcore import tiles
from emcore.alignment import read_transforms
from emcore.job import load_job
from emcore.jobroot import marker_key
from emcore.protocol import TaskMessage
from emcore.storage import open_storage
from emcore.volume import open_scale, read_block
from emcore.worker import execute
from emtest import inprocess
from functions.align import records
from functions.align.report import report
from functions.align.stage import STAGE
from functions.align.transforms import matrices_of
from orchestrator import engine
from orchestrator.local import LocalRunner
from orchestrator.samplestack import write_stack
from emtest.align_stacks import stats, truth_residuals

SIZE, SECTIONS, BLANK = 256, 8, 5


@pytest.fixture(scope="module")
def aligned(tmp_path_factory):
    root = tmp_path_factory.mktemp("align-e2e")
    raw = root / "raw"
    write_stack(str(raw), SIZE, SECTIONS, seed=4, misalign=True)
    cv2.imwrite(str(raw / f"img{BLANK:05d}.png"), np.full((SIZE, SIZE), 200, np.uint8))
    truth = json.loads((raw / "truth.json").read_text())
    job = load_job({"id": "align-e2e", "source": str(raw), "maxz": SECTIONS - 1, "dest": str(root / "out"),
                             "stages": {"align": {}, "pyramid": {"block": [128, 128, 16], "chunk": [64, 64, 8],
                                                                    "keep_tiles": True}}})
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    LocalRunner(job, store, workers=0).run()
    return job, store, [np.asarray(m) for m in truth["affines"]], raw


def test_job_completes_with_the_align_waves(aligned):
    from orchestrator.status import job_status
    _, store, _, _ = aligned
    status = job_status(store)
    assert status.state == "complete"
    assert [w.wave for w in status.waves][:3] == ["align.pairs", "align.solve", "align.render"]


def test_transforms_undo_the_known_displacements(aligned):
    _, store, truth, _ = aligned
    doc = read_transforms(store)
    good = [z for z in range(SECTIONS) if z != BLANK]
    s = stats(truth_residuals(matrices_of(doc), truth, SIZE, good))
    assert s["median"] < 0.3 and s["p95"] < 1.0, s
    assert doc["sections"][BLANK]["flags"] == ["blank", "bridged"]
    info = tiles.read_tiles_info(store)
    assert info.scale(0).size == (doc["frame"]["width"], doc["frame"]["height"], SECTIONS)


def _interior_ncc(a, b, margin=40):
    a = a[margin:-margin, margin:-margin].astype(np.float64).ravel()
    b = b[margin:-margin, margin:-margin].astype(np.float64).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def test_rendered_sections_are_in_register(aligned):
    """Neighbouring sections of the output look alike pixel for pixel (the tissue changes slowly
    along z); the raw sections, displaced by up to 12 px and 1 degree, do not."""
    job, store, _, raw_dir = aligned
    volume = tiles.open_tiles(store, read_only=True)
    shape = [int(n) for n in volume.shape[:3]]
    rendered = read_block(volume, [0, 0, 0], shape)[:, :, :].transpose(2, 1, 0)   # (z, rows, cols)
    image = open_scale(store.url + "image/", 0, read_only=True)
    pyramid = read_block(image, [0, 0, 0], shape).transpose(2, 1, 0)
    assert np.abs(pyramid.astype(int) - rendered).mean() < 3      # JPEG
    raw = [cv2.imread(str(raw_dir / f"img{z:05d}.png"), cv2.IMREAD_UNCHANGED) for z in range(SECTIONS)]
    for z in range(SECTIONS - 1):
        if BLANK in (z, z + 1):
            continue
        assert _interior_ncc(rendered[z], rendered[z + 1]) > 0.8
        assert _interior_ncc(rendered[z], rendered[z + 1]) > _interior_ncc(raw[z], raw[z + 1]) + 0.2


def test_status_report_names_the_blank_section(aligned):
    _, store, _, _ = aligned
    lines = report(store)
    assert lines[0].startswith(f"alignment: {SECTIONS} sections")
    assert any(line.strip().startswith(f"section {BLANK}: blank, bridged") for line in lines)


def test_a_retried_pair_task_rewrites_the_same_bytes(aligned):
    """The first pair task (a run of sections) run again writes every record byte for byte."""
    job, store, _, raw_dir = aligned
    plan = inprocess.plan(STAGE, job, store, "pairs")
    params = plan[0]
    run = range(params["z"], params["z"] + params["count"])
    before = [store.read(records.pairs_key(z)) for z in run]
    message = TaskMessage(job.id, store.url, "align", "pairs", 0, params, attempt=2, count=len(plan),
                          generation=job.generation)
    store.delete(marker_key("align.pairs", 0))
    execute(message, STAGE)
    assert [store.read(records.pairs_key(z)) for z in run] == before


def test_the_solve_writes_a_report_of_every_pair(aligned):
    """align/report.csv has a line per pair with the quality transforms.json records, and
    align/report.png is a picture of it along z (the blank section's pairs marked failed)."""
    import csv
    import io
    _, store, _, _ = aligned
    doc = read_transforms(store)
    rows = list(csv.DictReader(io.StringIO(store.read(records.REPORT_CSV).decode())))
    assert [(int(r["z"]), int(r["w"]), r["status"]) for r in rows] == [(p["z"], p["w"], p["status"]) for p in doc["pairs"]]
    assert all(r["status"] == "failed" for r in rows if BLANK in (int(r["z"]), int(r["w"])))
    picture = cv2.imdecode(np.frombuffer(store.read(records.REPORT_PNG), np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape[1] == 960
    # Failed pairs are drawn as red crosses (BGR (30, 30, 220)).
    assert ((picture[..., 2] > 200) & (picture[..., 0] < 60)).any()
    assert report(store)[-1].endswith("align/report.csv, align/report.png")
