"""A run killed with SIGKILL in the middle of the pyramid, then started again: it finishes, what
had finished is not redone, and the output is byte-identical to an uninterrupted run."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

from emcore.job import load_job_file
from emcore.jobroot import done_key, marker_prefix, plan_key
from emcore.storage import open_storage
from orchestrator import engine
from orchestrator.local import LocalRunner
from tests.stacks import smooth_stack, write_pngs

EMCTL = [sys.executable, "-m", "orchestrator.cli.main"]


def write_job(tmp_path, name, source):
    config = {"id": name, "source": str(source), "maxz": 63, "dest": str(tmp_path / name), "workers": 1,
              "stages": {"pyramid": {"block": [128, 128, 64], "chunk": [32, 32, 32], "raw": True}}}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    return path


def tree_digest(root) -> dict[str, str]:
    out = {}
    for layer in ("image", "image_raw"):
        for dirpath, _, files in os.walk(os.path.join(root, layer)):
            for f in files:
                full = os.path.join(dirpath, f)
                with open(full, "rb") as fh:
                    out[os.path.relpath(full, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def markers(root, wid):
    d = os.path.join(root, marker_prefix(wid))
    return {f for _, _, files in os.walk(d) for f in files}


def test_sigkill_mid_pyramid_then_resume(tmp_path):
    write_pngs(tmp_path / "raw", smooth_stack(512, 384, 64))
    reference = write_job(tmp_path, "reference", tmp_path / "raw")
    subprocess.run(EMCTL + ["start", "--config", str(reference), "--quiet"], check=True, capture_output=True)

    killed = write_job(tmp_path, "killed", tmp_path / "raw")
    dest = str(tmp_path / "killed")
    proc = subprocess.Popen(EMCTL + ["start", "--config", str(killed), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while len(markers(dest, "pyramid.0")) < 3:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = markers(dest, "pyramid.0")
    plan = json.loads(open(os.path.join(dest, plan_key("pyramid.0"))).read())
    assert 3 <= len(done_before) < plan["count"], "killed in the middle of the pyramid"
    group = os.path.join(dest, marker_prefix("pyramid.0"), "0")
    contents_before = {m: open(os.path.join(group, m)).read() for m in done_before}

    job = load_job_file(str(killed))
    store = open_storage(job.dest)
    assert engine.submit_job(store, job) is False, "the second start resumes the same job"
    stats = LocalRunner(job, store, workers=1).run()
    assert stats["pyramid.0"].tasks == plan["count"] - len(done_before), "finished tasks are not redone"
    for m, content in contents_before.items():
        assert open(os.path.join(group, m)).read() == content
    assert os.path.exists(os.path.join(dest, done_key("pyramid.0")))
    assert tree_digest(dest) == tree_digest(str(tmp_path / "reference")), "output byte-identical"


def test_a_job_json_kept_in_its_own_dest_starts_and_resumes_and_another_is_refused(tmp_path):
    """The job's state is under `<dest>/.emctl/`, so the user's own `<dest>/job.json` is theirs:
    starting from it runs the job, starting it again resumes, and a different config at the same
    dest is still refused, naming what differs."""
    write_pngs(tmp_path / "raw", smooth_stack(64, 48, 4))
    dest = tmp_path / "out"
    dest.mkdir()
    config = {"id": "here", "source": str(tmp_path / "raw"), "maxz": 3, "dest": str(dest), "workers": 1,
              "stages": {"pyramid": {"block": [64, 64, 64], "chunk": [32, 32, 32]}}}
    (dest / "job.json").write_text(json.dumps(config))
    start = lambda path: subprocess.run(EMCTL + ["start", "--config", str(path), "--quiet"],  # noqa: E731
                                        capture_output=True, text=True)
    first = start(dest / "job.json")
    assert first.returncode == 0 and "complete" in first.stdout, first.stderr
    assert json.loads((dest / "job.json").read_text()) == config, "the user's file is left as it was"
    again = start(dest / "job.json")
    assert again.returncode == 0 and "resuming" in again.stderr
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**config, "stages": {"pyramid": {"block": [64, 64, 64], "chunk": [16, 16, 16]}}}))
    refused = start(other)
    assert refused.returncode == 2 and "differing: stages.pyramid.chunk" in refused.stderr, refused.stderr
