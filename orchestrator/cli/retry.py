"""`emctl retry JOB`: re-run only the failed tasks, then carry the job on to its end."""
from __future__ import annotations

import sys

from orchestrator.cli.common import add_job_argument, add_workers_option, is_local_job, job_root, user_errors


def register(sub) -> None:
    p = sub.add_parser("retry", help="re-run a job's failed tasks and continue it")
    add_job_argument(p)
    add_workers_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress (bars on a terminal, lines otherwise)")
    p.set_defaults(run=run)


@user_errors
def run(args) -> int:
    from orchestrator.cli.start import run_local
    from orchestrator.engine import read_job
    store = job_root(args.job)
    job = read_job(store)
    if not is_local_job(job):
        # The orchestrator's own queue: on Google Cloud it also launches a GPU stage's Job.
        from orchestrator.cloud import task_queue
        from orchestrator.engine import retry
        from orchestrator.sweep import register
        register(store.url)          # the sweep looks after it again until it completes
        tasks = retry(job, store, task_queue(store.url))
        print(f"re-published {len(tasks)} failed task(s) of job {job.id!r}; follow with: emctl status {store.url}")
        return 0
    print(f"retrying the failed tasks of job {job.id!r}", file=sys.stderr)
    return run_local(job, store, args.workers, "retry", quiet=args.quiet)
