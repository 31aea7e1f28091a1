"""`make demo`: write an EM-like sample stack, run the pipeline on it locally, say how to view it."""
from __future__ import annotations

import json
import os
import shutil
import sys

from orchestrator.cli.main import main as emctl
from orchestrator.samplestack import write_stack

SIZE, SECTIONS = 1024, 64


def main(directory: str) -> int:
    directory = os.path.abspath(directory)
    raw = os.path.join(directory, "raw")
    if not os.path.exists(os.path.join(raw, "truth.json")):
        print(f"writing a {SIZE}x{SIZE}x{SECTIONS} sample stack to {raw}", file=sys.stderr)
        write_stack(raw, SIZE, SECTIONS, seed=7, misalign=True)
    config = {
        "id": "demo", "source": raw, "image": "img%05d.png", "minz": 0, "maxz": SECTIONS - 1,
        "dest": os.path.join(directory, "out"), "resolution": [8, 8, 8],
        # Misaligned on purpose: the demo shows alignment at work. Features are matched on
        # sections shrunk 4x (as accurate here, 3.6x cheaper) and refined at full resolution.
        "stages": {"align": {"downsample_factor": 4}, "pyramid": {}},
    }
    path = os.path.join(directory, "job.json")
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    _clear_other_job(config)
    code = emctl(["start", "--config", path])
    if code == 0:
        print(f"\nconfig: {path}\noutput: {config['dest']}\n"
              f"to look at it in Neuroglancer: {sys.executable} -m orchestrator.cli.main view {config['dest']}"
              f"   (or `.venv/bin/emctl view {config['dest']}`)")
    return code


def _clear_other_job(config: dict) -> None:
    """A demo output left by another version of the demo's job (other options or defaults) is
    deleted, so `make demo` always runs; the same job is resumed as `emctl start` resumes it."""
    from emcore.storage import open_storage
    from orchestrator.engine import conflict
    from orchestrator.registry import load_job
    if conflict(open_storage(config["dest"]), load_job(config)):
        print(f"{config['dest']} holds an older demo job: deleting it", file=sys.stderr)
        shutil.rmtree(config["dest"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "demo-data"))
