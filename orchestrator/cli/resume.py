"""`emctl resume JOB`: carry on a job that stopped. Locally, the same as starting it again; in
the cloud, the current wave's unfinished tasks are published once more (what the deployment's
sweep does for a stalled job), through the orchestrator's own queue."""
from __future__ import annotations

import sys

from orchestrator.cli.common import add_job_argument, add_workers_option, is_local_job, job_root, user_errors


def register(sub) -> None:
    p = sub.add_parser("resume", help="carry on a stopped or stalled job")
    add_job_argument(p)
    add_workers_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress (bars on a terminal, lines otherwise)")
    p.set_defaults(run=run)


@user_errors
def run(args) -> int:
    from orchestrator.engine import read_job, resume
    store = job_root(args.job)
    job = read_job(store)
    if is_local_job(job):
        from orchestrator.cli.start import run_local
        print(f"resuming job {job.id!r} at {store.url}", file=sys.stderr)
        return run_local(job, store, args.workers, "resume", quiet=args.quiet)
    from orchestrator.cloud import task_queue
    from orchestrator.sweep import register
    register(store.url)
    resume(job, store, task_queue(store.url))
    print(f"re-published the unfinished tasks of job {job.id!r}; follow with: emctl status {store.url}")
    return 0
