"""Measured throughputs for `emctl plan`: what a finished job's tasks read and the CPU they used,
per wave, folded into the price table's `throughput_mb_per_core_second`.

Every task's marker holds its `summary.bytes_in` (what the stage's `cost()` estimates before the
run) and its `cpu_seconds` (every thread of its process, emcore/worker.py). A wave's throughput is
its bytes over its CPU seconds, in MB per CPU-second, so it does not depend on how busy the
machine was. The table keeps a row per measured wave ("pyramid.0"), per kind of numbered wave
("cc.downsampleN" for "cc.downsample1", ...) and per stage ("pyramid"), each the bytes-weighted
figure of the waves under it, and `costs.throughput` looks them up in that order; rows nobody
measured keep their typed-in value. `_measured` says where each row came from.

    python -m bench.throughput      folds what the benchmarks recorded (bench/throughput.py)
"""
from __future__ import annotations

import json
import re
from collections import defaultdict

from emcore.jobroot import MARKERS, wave_of_marker
from emcore.storage import Storage

TABLE = "throughput_mb_per_core_second"
SOURCES = "_measured"


def measure(store: Storage) -> dict[str, dict]:
    """{wave id: {"tasks", "bytes_in", "cpu_seconds"}} from a job's markers (each task counted
    once: a marker is written once, create-only)."""
    waves: dict[str, dict] = defaultdict(lambda: {"tasks": 0, "bytes_in": 0, "cpu_seconds": 0.0})
    for key in store.list(MARKERS):
        marker = json.loads(store.read(key))
        if "cpu_seconds" not in marker:     # a duplicate delivery's acknowledgement, or an older marker
            continue
        row = waves[wave_of_marker(key)]
        row["tasks"] += 1
        row["bytes_in"] += int((marker.get("summary") or {}).get("bytes_in", 0))
        row["cpu_seconds"] += float(marker["cpu_seconds"])
    return dict(waves)


def kind(wave: str) -> str:
    """The wave with its number as N: "cc.downsampleN" for "cc.downsample2", "pyramid.N" for
    "pyramid.3" (numbered waves of one kind do the same work per byte)."""
    return re.sub(r"\d+$", "N", wave)


# A row needs this much CPU behind it: a wave of a few small tasks (the pyramid's top scales on a
# benchmark's stack) gives a figure that says little about the same wave on a terabyte.
MIN_CPU_SECONDS = 1.0


def rows(measured: dict[str, dict]) -> dict[str, float]:
    """MB per CPU-second for each measured wave, kind and stage with at least MIN_CPU_SECONDS
    behind it (waves that read nothing give no figure)."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for wave, row in measured.items():
        if row["bytes_in"] <= 0 or row["cpu_seconds"] <= 0:
            continue
        for name in dict.fromkeys([wave, kind(wave), wave.split(".", 1)[0]]):
            totals[name][0] += row["bytes_in"] / 1e6
            totals[name][1] += row["cpu_seconds"]
    return {name: round(mb / cpu, 2) for name, (mb, cpu) in totals.items() if cpu >= MIN_CPU_SECONDS}


def fold(prices: dict, measured: dict[str, dict], source: str) -> dict:
    """The price table with the measured rows replaced (others kept), each row's source noted."""
    out = json.loads(json.dumps(prices))
    for name, value in rows(measured).items():
        out[TABLE][name] = value
        out.setdefault(SOURCES, {})[name] = source
    out[TABLE] = dict(sorted(out[TABLE].items()))
    out[SOURCES] = dict(sorted(out.get(SOURCES, {}).items()))
    return out
