"""`emctl plan`'s estimate of a local job next to the job's measured run (not a test): per wave,
the CPU seconds the plan expects from the price table (orchestrator/prices.json, as
`python -m bench.throughput` left it) and those the tasks' markers report.

    python -m bench.plan [--quick] [--workers N]

Two jobs, each of a size the other benchmarks did not measure: render + pyramid of a 1024 x 1024
x 256 PNG stack, and cc of a 384^3 descriptor in 128^3 chunks. The target: each job's total within 25 % of the
measured CPU time. Waves whose work the plan cannot know (the cc merge, which grows with the
segments found) are estimated at zero and show as such.
"""
from __future__ import annotations

import argparse
import os
import shutil

from bench.measure import ROOT

DATA = os.path.join(ROOT, "bench-data", "plan")
TOLERANCE = 0.25


def compare(config: dict, workers: int) -> tuple[float, float]:
    """Print the plan's and the run's CPU seconds per wave; returns the totals (plan, run)."""
    from emcore.job import load_job
    from emcore.storage import local_path, open_storage
    from orchestrator import engine, throughput
    from orchestrator.costs import load_prices, wave_cost
    from orchestrator.local import LocalRunner
    from orchestrator.simulate import simulate
    job = load_job(config)
    prices = load_prices()
    planned = {c.wave: c.cpu_seconds for c in (wave_cost(r, prices, workers) for r in simulate(job))}
    shutil.rmtree(local_path(job.dest), ignore_errors=True)
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    stats = LocalRunner(job, store, workers=workers).run()
    if any(s.failed for s in stats.values()):
        raise RuntimeError(f"job {job.id} failed: {stats}")
    measured = {w: row["cpu_seconds"] for w, row in throughput.measure(store).items()}
    print(f"\n{job.id}: {'wave':<18s}{'plan CPU s':>12s}{'run CPU s':>12s}{'plan / run':>12s}")
    for wave in planned:
        p, m = planned[wave], measured.get(wave, 0.0)
        ratio = f"{p / m:12.2f}" if m > 0.005 else f"{'-':>12s}"
        print(f"  {wave:<{len(job.id) + 16}s}{p:12.2f}{m:12.2f}{ratio}")
    total_p, total_m = sum(planned.values()), sum(measured.values())
    verdict = "within" if abs(total_p - total_m) <= TOLERANCE * total_m else "NOT within"
    print(f"  {'total':<{len(job.id) + 16}s}{total_p:12.2f}{total_m:12.2f}{total_p / total_m:12.2f}  "
          f"({verdict} {TOLERANCE:.0%} of the measured CPU time)")
    return total_p, total_m


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="512 x 512 x 64 stack, 128^3 descriptor")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args(argv)
    from bench.cc import THRESHOLD, make_descriptor
    from bench.pyramid import ensure_stack
    size, sections, edge = (512, 64, 128) if args.quick else (1024, 256, 384)
    stack = os.path.join(DATA, f"stack-{size}x{size}x{sections}")
    ensure_stack(stack, size, sections, args.workers)
    descriptor = f"file://{DATA}/descriptor-{edge}/"
    make_descriptor(descriptor, edge, seed=2)
    print(f"load average {os.getloadavg()[0]:.1f}, {args.workers} workers; prices: orchestrator/prices.json")
    totals = [
        compare({"id": "pyramid", "source": stack, "dest": os.path.join(DATA, "out-pyramid"), "maxz": sections - 1,
                 "resolution": [8, 8, 8], "stages": {"pyramid": {"raw": False}}}, args.workers),
        compare({"id": "cc", "dest": os.path.join(DATA, "out-cc"), "stages": {"cc": {
            "descriptor": descriptor, "ccthresh": THRESHOLD, "block": [128, 128, 128],
            "chunk": [64, 64, 64]}}}, args.workers),
    ]
    bad = [p / m for p, m in totals if abs(p - m) > TOLERANCE * m]
    print(f"\nplan / run, total CPU: {', '.join(f'{p / m:.2f}' for p, m in totals)} "
          f"({'each' if not bad else 'NOT each'} within {TOLERANCE:.0%}); load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
