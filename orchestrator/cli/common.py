"""Options and helpers shared by the subcommands."""
from __future__ import annotations

import argparse
import os

from emcore.schema import ConfigError
from emcore.storage import Storage, StorageError, is_local, open_storage
from orchestrator.engine import JobConflict


class UserError(Exception):
    """A problem the user can fix; printed without a traceback."""


def add_job_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", metavar="JOB",
                        help="the job's root (its `dest`: a path or URL), or its job.json")


def add_workers_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="local worker processes (default: the job's `workers`, else all cores)")


def job_root(arg: str) -> Storage:
    """JOB may be the dest itself or a job.json naming it."""
    if is_local(arg) and os.path.isfile(arg):
        return open_storage(load_config(arg).dest)
    return open_storage(arg)


def load_config(path: str):
    from emcore.job import load_job_file
    try:
        return load_job_file(path)
    except ConfigError as e:
        raise UserError(f"invalid config {path}: {e}") from None
    except FileNotFoundError as e:
        raise UserError(str(e)) from None


def user_errors(fn):
    """Turn the errors a user can act on into UserError."""
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ConfigError, JobConflict, StorageError, FileNotFoundError) as e:
            raise UserError(str(e)) from None
    return wrapper


def is_local_job(job) -> bool:
    return is_local(job.dest) and (job.source is None or is_local(job.source))


def human_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.1f}s"
    if seconds < 5400:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"
