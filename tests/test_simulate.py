"""Orchestration cost of whole jobs, measured by simulating them on mem:// with the real plans and
engine: storage operations and messages per wave grow linearly with the number of sections."""
from __future__ import annotations

import json

import cv2
import numpy as np

from emcore.job import load_job
from emcore.storage import open_storage
from orchestrator.cli.main import main as emctl
from orchestrator.costs import load_prices, wave_cost
from orchestrator.simulate import simulate


def sim_job(sections: int):
    source = open_storage("mem://sim-source/")
    source.write("img00000.png", cv2.imencode(".png", np.zeros((2048, 2048), np.uint8))[1].tobytes())
    return load_job({"id": f"sim-{sections}", "source": source.url, "maxz": sections - 1,
                              "dest": f"mem://unused/{sections}/", "stages": {"pyramid": {}}})


def test_orchestration_grows_linearly_to_10000_sections(capsys):
    rows = {}
    for n in (1000, 2500, 10_000):
        reports = {r.wave: r for r in simulate(sim_job(n))}
        render = reports["align.render"]
        assert render.tasks == n and render.messages == n + 1
        assert reports["pyramid.0"].tasks == 4 * -(-n // 1024), "2x2 blocks of 1024^2 per 1024 sections"
        total_ops = sum(sum(r.orchestration_ops.values()) for r in reports.values())
        total_messages = sum(r.messages for r in reports.values())
        rows[n] = (total_ops, total_messages)
        with capsys.disabled():
            print(f"\n{n:>6} sections: " + "; ".join(
                f"{w} {r.tasks} tasks {r.messages} msgs {sum(r.orchestration_ops.values())} ops" for w, r in reports.items()))
    per_section = {n: ops / n for n, (ops, _) in rows.items()}
    assert max(per_section.values()) / min(per_section.values()) < 1.15, per_section
    assert all(m / n < 1.1 for n, (_, m) in rows.items())


def test_plan_command_prints_costs(tmp_path, capsys):
    import cv2 as _cv2
    (tmp_path / "raw").mkdir()
    _cv2.imwrite(str(tmp_path / "raw" / "img00000.png"), np.zeros((1000, 1500), np.uint8))
    config = {"id": "p", "source": str(tmp_path / "raw"), "maxz": 499, "dest": str(tmp_path / "out"),
              "stages": {"pyramid": {}}}
    (tmp_path / "job.json").write_text(json.dumps(config))
    assert emctl(["plan", "--config", str(tmp_path / "job.json"), "--cores", "2"]) == 0
    out = capsys.readouterr().out
    assert "align.render" in out and "GCP $" in out
    render_line = next(line for line in out.splitlines() if line.startswith("align.render"))
    assert render_line.split()[1] == "500"
    assert not (tmp_path / "out").exists(), "planning writes nothing at the destination"


def test_costs_scale_with_the_price_table():
    reports = simulate(sim_job(200))
    prices = load_prices()
    double = json.loads(json.dumps(prices))
    for k in double["gcp"]:
        if k != "message_min_bytes":
            double["gcp"][k] *= 2
    for r in reports:
        a, b = wave_cost(r, prices, 2), wave_cost(r, double, 2)
        assert abs(b.gcp - 2 * a.gcp) < 1e-12 and a.aws == b.aws


def test_every_stage_can_be_planned():
    """`emctl plan` plans waves whose plans read what earlier tasks wrote (align's transforms,
    cc's segment count, mesh's chunk indices): the stages' stand-ins let it through, and the
    align pair wave is costed from the sections' own size before any tile exists."""
    source = open_storage("mem://sim-every-stage/")
    for z in range(20):
        source.write(f"img{z:05d}.png", cv2.imencode(".png", np.zeros((512, 384), np.uint8))[1].tobytes())
    job = load_job({"id": "every", "source": source.url, "maxz": 19, "dest": "mem://unused/every/",
                             "stages": {"align": {}, "pyramid": {"raw": True},
                                        "cc": {"descriptor": "<dest>/image_raw/"}, "mesh": {}}})
    reports = {r.wave: r for r in simulate(job)}
    assert [w for w in reports if not w.startswith(("cc.", "mesh."))] == [
        "align.pairs", "align.solve", "align.render", "pyramid.0", "pyramid.tidy"]
    assert {"cc.blocks", "cc.finalize", "cc.remap", "mesh.blocks"} <= set(reports)
    # Pair tasks take runs of 16 sections; render one section each.
    assert reports["align.pairs"].tasks == 2 and reports["align.render"].tasks == 20
    # Each section is read once by the run that holds it, and the `reach` (2) sections after a
    # run once more by that run (the estimate counts them for the last run too).
    assert reports["align.pairs"].bytes_in == (20 + 2 * 2) * 512 * 384


def _segmentation_job(side: int, stage: str):
    """A mesh or skeleton job on a user's segmentation of side^2 x 256 voxels in 64^3 blocks
    (only its `info` exists: the stages' stand-ins stand for what the block tasks write)."""
    from emcore.precomputed import Precomputed, ScaleMeta
    url = f"mem://sim-seg-{stage}-{side}/seg/"
    scale = ScaleMeta("8_8_8", (side, side, 256), (8.0, 8.0, 8.0), (0, 0, 0), ((64, 64, 64),), "raw")
    Precomputed.new(url, "segmentation", "uint32", [scale]).write()
    return load_job({"id": f"seg-{side}", "source": url, "maxz": 255, "dest": f"mem://unused/seg-{side}/",
                     "stages": {stage: {"segmentation": url, "block": [64, 64, 64]}}})


def test_merge_planning_is_bounded_whatever_the_number_of_blocks():
    """Issue 13: no orchestrator request grows with the job. The mesh and skeleton merges are
    planned in three waves (emcore/shuffle.py): the census and merge plans read nothing per
    block, the route plan at most shuffle.RUNS_MAX summaries. Each plan, run as the orchestrator
    runs it after the waves before it (their stand-ins write what their tasks would), costs at
    most RUNS_MAX + 4 storage operations, for 64 blocks as for 16,384; `emctl plan` plans it all."""
    from emcore import registry
    from emcore.shuffle import RUNS_MAX
    for stage in ("mesh", "skeleton"):
        waves = registry.stage(stage)
        for side in (256, 4096):
            job = _segmentation_job(side, stage)
            store = open_storage(job.dest)
            waves.wave("blocks").stand_in(job, store)
            costs = {}
            for name in ("census", "route", "merge"):
                wave = waves.wave(name)
                before = sum(store.ops.values())
                tasks = wave.plan(job, store)
                costs[name] = (len(tasks), sum(store.ops.values()) - before)
                wave.stand_in(job, store)
            blocks = (side // 64) ** 2 * 4
            print(f"\n{stage}, {blocks} blocks: (tasks, storage operations) of each plan {costs}")
            assert costs["census"][0] == min(RUNS_MAX, blocks // 16)
            assert all(ops <= RUNS_MAX + 4 for _, ops in costs.values()), costs
        small = simulate(_segmentation_job(256, stage))
        assert [r.wave for r in small][1:4] == [f"{stage}.census", f"{stage}.route", f"{stage}.merge"]


def test_a_mesh_job_on_an_earlier_jobs_segmentation_is_planned_from_it_and_leaves_it_alone(tmp_path):
    """`emctl plan` of a mesh or skeleton job whose dest already holds the segmentation it reads
    (its own, written by an earlier cc job): the plan reads it where it lies and writes nothing
    there."""
    import hashlib
    import os
    from emtest.mesh_data import spheres, write_segmentation
    dest = tmp_path / "out"
    write_segmentation(str(dest / "segmentation"), spheres((96, 80, 64), [(30, 30, 30), (60, 50, 30)], [20, 15]), (8, 8, 8))

    def snapshot():
        return {os.path.relpath(os.path.join(d, f), dest): hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest()
                for d, _, files in os.walk(dest) for f in files}
    before = snapshot()
    for stage in ("mesh", "skeleton"):
        job = load_job({"id": "later", "source": str(dest / "segmentation"), "maxz": 0, "dest": str(dest),
                        "stages": {stage: {"block": [32, 32, 32]}}})
        reports = {r.wave: r for r in simulate(job)}
        size = json.loads((dest / "segmentation" / "info").read_text())["scales"][0]["size"]
        assert reports[f"{stage}.blocks"].tasks == np.prod([-(-s // 32) for s in size])
    assert snapshot() == before
