"""`emctl start --config job.json`: validate, store the job at its root, run it.

With local source and destination it runs here, on a pool of worker processes; starting a job
that is already at its root resumes it, redoing nothing that finished."""
from __future__ import annotations

import sys

from orchestrator.cli.common import (UserError, add_workers_option, is_local_job, load_config, user_errors)


def register(sub) -> None:
    p = sub.add_parser("start", help="run a job (resumes it if it was interrupted)")
    p.add_argument("--config", required=True, help="path to job.json")
    add_workers_option(p)
    p.add_argument("--quiet", action="store_true",
                   help="no progress (bars on a terminal, one line per wave start and end otherwise)")
    p.set_defaults(run=run)


@user_errors
def run(args) -> int:
    job = load_config(args.config)
    if not is_local_job(job):
        return start_cloud(job, args.config)
    from emcore.storage import open_storage
    from orchestrator.engine import submit_job
    store = open_storage(job.dest)
    fresh = submit_job(store, job)
    print(f"{'starting' if fresh else 'resuming'} job {job.id!r} at {store.url}", file=sys.stderr)
    return run_local(job, store, args.workers, "resume", quiet=args.quiet)


def start_cloud(job, path: str) -> int:
    """A cloud destination takes the same path as a user's upload: the config (and a local
    source's sections) go to the bucket's upload prefix, whose notifications start the job."""
    import json
    from emcore.storage import is_local
    from orchestrator.upload import upload_job
    if is_local(job.dest):
        raise UserError(f"source {job.source} is in the cloud but dest {job.dest} is local: "
                        "download the sections, or use a cloud dest")
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    url = upload_job(job, raw)
    print(f"uploaded {url}; the bucket's notification starts the job. Follow it with: emctl status {job.dest}")
    return 0


def run_local(job, store, workers, action: str, quiet: bool = False) -> int:
    from emcore.stage import TaskError
    from orchestrator.cli.progress import progress_for, summary
    from orchestrator.local import LocalRunner
    from orchestrator.status import job_status
    runner = LocalRunner(job, store, workers=workers)
    runner.progress = progress = progress_for(runner.stats, quiet)
    try:
        stats = runner.run(action)
    except TaskError as e:
        raise UserError(str(e)) from None
    finally:
        progress.close()
    print(summary(stats, progress), file=sys.stderr)
    status = job_status(store)
    if status.state == "complete":
        print(f"job {job.id!r} complete: outputs under {store.url}")
        print(f"view it: emctl view {store.url}")
        return 0
    print(f"job {job.id!r} {status.state}:", file=sys.stderr)
    for wave in status.waves:
        for failure in wave.failed:
            print(f"  {wave.wave} task {failure.task}: {failure.error}", file=sys.stderr)
    print(f"fix the inputs, then: emctl retry {store.url}", file=sys.stderr)
    return 1
