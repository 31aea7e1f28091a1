"""`emctl plan --config job.json`: before anything runs, the tasks, messages and storage
operations per wave, the compute time, and what the run costs on this machine and in the cloud."""
from __future__ import annotations

import os

from orchestrator.cli.common import human_seconds, load_config, user_errors


def register(sub) -> None:
    p = sub.add_parser("plan", help="estimate a job's work and cost before running it")
    p.add_argument("--config", required=True, help="path to job.json")
    p.add_argument("--prices", default=None, help="price table (default: the shipped orchestrator/prices.json)")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="local cores (default: this machine's)")
    p.set_defaults(run=run)


@user_errors
def run(args) -> int:
    from emcore.stage import TaskError
    from orchestrator.cli.common import UserError
    from orchestrator.costs import load_prices, wave_cost
    from orchestrator.simulate import simulate
    job = load_config(args.config)
    prices = load_prices(args.prices)
    try:
        costs = [wave_cost(r, prices, args.cores) for r in simulate(job)]
    except TaskError as e:
        raise UserError(str(e)) from None
    print(f"job {job.id!r}: {len(costs)} waves  (prices: {args.prices or 'orchestrator/prices.json'})")
    print(f"{'wave':<18}{'tasks':>8}{'messages':>10}{'storage ops':>13}{'cpu time':>10}"
          f"{'local':>9}{'local $':>10}{'GCP $':>10}{'AWS $':>10}")
    for c in costs:
        print(f"{c.wave:<18}{c.tasks:>8}{c.messages:>10}{c.storage_ops:>13}{human_seconds(c.cpu_seconds):>10}"
              f"{human_seconds(c.local_seconds):>9}{c.local:>10.4f}{c.gcp:>10.4f}{c.aws:>10.4f}")
    total = lambda attr: sum(getattr(c, attr) for c in costs)  # noqa: E731
    print(f"{'total':<18}{total('tasks'):>8}{total('messages'):>10}{total('storage_ops'):>13}"
          f"{human_seconds(total('cpu_seconds')):>10}{human_seconds(total('local_seconds')):>9}"
          f"{total('local'):>10.4f}{total('gcp'):>10.4f}{total('aws'):>10.4f}")
    print("local: this machine's electricity at the table's watts and kWh price; cloud: compute, requests, "
          "messages and storage operations at list prices; storage at rest is not included.")
    return 0
