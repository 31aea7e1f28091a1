"""`emctl validate job.json`: check a config without running anything; `--doc` prints the
reference of every key, generated from the same declarations that validate."""
from __future__ import annotations

from orchestrator.cli.common import load_config


def register(sub) -> None:
    p = sub.add_parser("validate", help="check a job.json (or print the reference with --doc)")
    p.add_argument("config", nargs="?", help="path to job.json")
    p.add_argument("--doc", action="store_true", help="print the job.json reference (Markdown)")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.doc:
        from emcore.job import job_section
        from emcore.registry import option_sections
        print(job_section(option_sections()).document(level=2))
        return 0
    if not args.config:
        from orchestrator.cli.common import UserError
        raise UserError("give a job.json to validate, or --doc")
    job = load_config(args.config)
    stages = ", ".join(job.config["stages"])
    print(f"{args.config}: valid; job {job.id!r} runs {stages}; outputs under {job.dest}")
    return 0
