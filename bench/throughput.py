"""The price table's throughputs from measured runs: each benchmark records the waves of the emctl
job it ran (`record`), and this command folds every record into `orchestrator/prices.json`
(orchestrator/throughput.py says how). `make bench` runs it last; any stage's benchmark can record.

    python -m bench.throughput [--prices orchestrator/prices.json] [--records bench-data/throughput]
"""
from __future__ import annotations

import argparse
import datetime
import glob
import json
import os

from bench.measure import ROOT
from emcore.storage import Storage
from orchestrator import throughput

RECORDS = os.path.join(ROOT, "bench-data", "throughput")
PRICES = os.path.join(ROOT, "orchestrator", "prices.json")


def record(store: Storage, name: str, what: str) -> dict:
    """Save the waves of the finished job at `store` as benchmark `name`'s measurement of `what`
    (e.g. "2048x2048x512 uint8 PNGs"); returns the measured waves."""
    return record_waves(name, what, throughput.measure(store))


def record_waves(name: str, what: str, measured: dict[str, dict]) -> dict:
    """Save waves a benchmark timed itself ({wave: {"tasks", "bytes_in", "cpu_seconds"}}, bytes
    as the wave's `cost()` counts them) as benchmark `name`'s measurement of `what`."""
    os.makedirs(RECORDS, exist_ok=True)
    source = (f"{name}: {what}, {datetime.date.today().isoformat()}, "
              f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    with open(os.path.join(RECORDS, f"{name}.json"), "w") as f:
        json.dump({"source": source, "waves": measured}, f, indent=1, sort_keys=True)
    return measured


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.split("\n\n")[0])
    parser.add_argument("--prices", default=PRICES)
    parser.add_argument("--records", default=RECORDS)
    args = parser.parse_args(argv)
    with open(args.prices, encoding="utf-8") as f:
        prices = json.load(f)
    paths = sorted(glob.glob(os.path.join(args.records, "*.json")))
    if not paths:
        print(f"no measurements under {args.records}: run a benchmark first (make bench)")
        return 1
    for path in paths:
        with open(path, encoding="utf-8") as f:
            rec = json.load(f)
        prices = throughput.fold(prices, rec["waves"], rec["source"])
        print(f"{rec['source']}")
        for wave, row in sorted(rec["waves"].items()):
            rate = f"{row['bytes_in'] / 1e6 / row['cpu_seconds']:8.1f} MB/CPU-s" if row["cpu_seconds"] > 0 and row["bytes_in"] > 0 else "       (no bytes read)"
            print(f"  {wave:<20s} {row['tasks']:6d} tasks {row['bytes_in'] / 1e6:10.1f} MB {row['cpu_seconds']:8.1f} CPU-s {rate}")
    with open(args.prices, "w", encoding="utf-8") as f:
        json.dump(prices, f, indent=2)
        f.write("\n")
    print(f"\nwrote {os.path.relpath(args.prices, ROOT)}: {throughput.TABLE}")
    unmeasured = sorted(set(prices[throughput.TABLE]) - set(prices.get(throughput.SOURCES, {})) - {"default"})
    for name, value in prices[throughput.TABLE].items():
        print(f"  {name:<20s} {value:8.2f}  {prices.get(throughput.SOURCES, {}).get(name, 'typed in, not measured')}")
    if unmeasured:
        print(f"not measured by any benchmark: {', '.join(unmeasured)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
