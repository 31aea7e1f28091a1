"""`emctl status JOB`: waves with done/expected, failed tasks with their errors, time and ETA."""
from __future__ import annotations

from orchestrator.cli.common import add_job_argument, human_seconds, job_root, user_errors


def register(sub) -> None:
    p = sub.add_parser("status", help="show a job's progress and failures")
    add_job_argument(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--stall-after", type=float, default=None, metavar="SECONDS",
                   help="call the job stalled after this long with nothing written (default: 1800)")
    p.set_defaults(run=run)


@user_errors
def run(args) -> int:
    from orchestrator.status import STALL_SECONDS, job_status
    status = job_status(job_root(args.job), args.stall_after or STALL_SECONDS)
    if args.json:
        print(status.to_json())
        return 0
    print(f"job {status.job} at {status.root}: {status.state}, elapsed {human_seconds(status.elapsed)}")
    print(f"  {'wave':<18}{'state':<9}{'done':>7}{'of':>7}{'failed':>8}{'elapsed':>9}{'eta':>9}")
    for w in status.waves:
        expected = "-" if w.expected is None else str(w.expected)
        print(f"  {w.wave:<18}{w.state:<9}{w.done:>7}{expected:>7}{len(w.failed):>8}"
              f"{human_seconds(w.elapsed):>9}{human_seconds(w.eta):>9}")
    for line in status.notes:
        print(line)
    failures = [(w.wave, f) for w in status.waves for f in w.failed]
    if failures:
        print("failed tasks:")
        for wave, f in failures:
            print(f"  {wave} task {f.task} (after {f.attempts} attempts): {f.error}")
        print(f"after fixing the cause: emctl retry {status.root}")
    if status.state == "stalled":
        print(f"nothing has happened for {human_seconds(status.idle)}: emctl resume {status.root}")
    return {"failed": 1, "stalled": 3}.get(status.state, 0)
