"""`emctl`: one module per subcommand; each registers its parser and its `run(args) -> int`."""
from __future__ import annotations

import argparse
import sys

from orchestrator.cli import plan_cmd, resume, retry, start, status, validate, view
from orchestrator.cli.common import UserError

COMMANDS = (start, status, resume, retry, view, validate, plan_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emctl", description="Serverless processing of serial-section EM stacks.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UserError as e:
        print(f"emctl {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"emctl {args.command}: interrupted; `emctl start` again resumes where it stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
