"""`make demo` (`make demo REAL=1`): every stage on a sample stack (or on the real ssTEM sections
beside the repository), then what each stage wrote and the command that shows all of it."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

from orchestrator.cli.main import main as emctl
from orchestrator.demojobs import SECTIONS, SIZE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.demo", description=__doc__)
    parser.add_argument("directory", nargs="?", default="demo-data", help="where the sample and the outputs go")
    parser.add_argument("--real", action="store_true",
                        help="the real ssTEM sections of ../shared/data/isbi-sstem/ (read there, never copied)")
    parser.add_argument("--size", type=int, default=SIZE, help=f"sample section side in pixels (default {SIZE})")
    parser.add_argument("--sections", type=int, default=SECTIONS, help=f"sample sections (default {SECTIONS})")
    args = parser.parse_args(argv)
    directory = os.path.abspath(args.directory)
    jobs = _real_jobs(directory) if args.real else _synthetic_jobs(directory, args.size, args.sections)
    if jobs is None:
        return 2
    for config in jobs:
        code = _run(config, os.path.dirname(config["dest"].rstrip("/")))
        if code:
            return code
    _print_summary(jobs[-1]["dest"])
    return 0


def _synthetic_jobs(directory: str, size: int, sections: int) -> list[dict]:
    from orchestrator.demojobs import sample_written, synthetic_jobs, write_sample
    raw = os.path.join(directory, "raw")
    if not sample_written(raw, size, sections):
        print(f"writing a {size}x{size}x{sections} sample of neuropil to {raw}", file=sys.stderr, flush=True)
        shutil.rmtree(raw, ignore_errors=True)      # another version's or size's sample
        write_sample(raw, size, sections)
    return synthetic_jobs(directory, sections)


def _real_jobs(directory: str) -> list[dict] | None:
    from emtest import realdata
    from orchestrator.demojobs import real_jobs
    if not realdata.present():
        print(f"make demo REAL=1: {realdata.MISSING}", file=sys.stderr)
        return None
    print(f"the real sections: {realdata.SSTEM}", file=sys.stderr, flush=True)
    return real_jobs(os.path.join(directory, "real"), realdata.SSTEM)


def _run(config: dict, folder: str) -> int:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{config['id']}.json")
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    _clear_other_job(config)
    print(f"\n== emctl start --config {path}", file=sys.stderr, flush=True)
    return emctl(["start", "--config", path])


def _clear_other_job(config: dict) -> None:
    """A demo output left by another version of the demo's job (other options or defaults) is
    deleted, so `make demo` always runs; the same job is resumed as `emctl start` resumes it."""
    from emcore.job import load_job
    from emcore.storage import open_storage
    from orchestrator.engine import conflict
    if conflict(open_storage(config["dest"]), load_job(config)):
        print(f"{config['dest']} holds an older demo job: deleting it", file=sys.stderr)
        shutil.rmtree(config["dest"])


def _print_summary(dest: str) -> None:
    from emcore.storage import open_storage
    from orchestrator.outputs import describe_outputs
    shown = os.path.relpath(dest) if not os.path.relpath(dest).startswith("..") else dest
    emctl_path = os.path.join(os.path.dirname(sys.executable), "emctl")
    command = os.path.relpath(emctl_path) if os.path.exists(emctl_path) else "emctl"
    print(f"\nWhat each stage wrote under {shown}/:\n")
    for line in describe_outputs(open_storage(dest)):
        print(f"  {line}")
    print(f"\nSee all of it in Neuroglancer (image, segmentation, the largest segments' meshes and skeletons):\n"
          f"  {command} view {shown}\n"
          f"Read it with CloudVolume or TensorStore: README.md, \"Reading the outputs\".")


if __name__ == "__main__":
    sys.exit(main())
