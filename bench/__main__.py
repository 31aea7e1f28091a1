"""`make bench`: every stage's benchmark in turn, each printing its throughput next to the field's
reference tools measured in the same run; then the price table's throughputs from those runs.
`python -m bench --quick` for a smoke run of all; `python -m bench pyramid cc` for some."""
from __future__ import annotations

import subprocess
import sys
import time

# name -> (full arguments, quick arguments)
BENCHES = {
    "sections": ([], ["--quick"]),
    "pyramid": ([], ["--quick"]),
    "align": (["--sizes", "2048,8192"], ["--sizes", "2048", "--solve", "200"]),
    "align_drift": ([], ["--sections", "60"]),
    "align_real": ([], ["--quick"]),
    "cc": ([], ["--quick"]),
    "cc_merge": ([], []),
    "mesh": ([], ["--quick"]),
    "skeleton": ([], ["--quick"]),
    "seamless": ([], ["--quick"]),
    # Last: the throughputs the runs above recorded go into orchestrator/prices.json, and emctl
    # plan's estimate of two other jobs is compared with their measured runs.
    "throughput": ([], []),
    "plan": ([], ["--quick"]),
}


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    chosen = [a for a in argv if not a.startswith("--")] or list(BENCHES)
    failed = []
    for name in chosen:
        full, fast = BENCHES[name]
        print(f"\n=== bench.{name} {'(quick)' if quick else ''}", flush=True)
        started = time.time()
        code = subprocess.call([sys.executable, "-m", f"bench.{name}", *(fast if quick else full)])
        print(f"=== bench.{name}: {time.time() - started:.0f} s{'' if code == 0 else f', exit {code}'}", flush=True)
        if code:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
