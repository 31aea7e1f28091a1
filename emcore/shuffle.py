"""Routing per-block records to per-shard merge tasks with bounded work in every request.

Meshes and skeletons are made per block, then merged per object: each object's pieces, spread
over the blocks it touches, must reach the one merge task that writes its shard. Which shard an
object lands in depends on the sharding spec, and the spec on how many objects and bytes there
are: a census is needed before anything can be routed. Done in one orchestrator request, that
census reads every block's index: O(blocks) operations where the request limit allows a few
thousand. So it is split into waves whose plans do O(1) or O(RUNS_MAX) work:

    census   one task per run of blocks: reads the run's block indices, writes the run's records
             (`<tmp>census/<run>.rows`) and a small summary (`<run>.json`: ids, bytes, which of
             the requested ids it holds)
    route    its plan reads the runs' summaries (at most RUNS_MAX) and chooses the spec; one task
             per run: sorts the run's records by shard (`<tmp>route/<run>.work`) with each
             shard's byte range (`<run>.index`, one uint64 pair per shard)
    merge    one task per shard: two ranged reads per run (at most 2 * RUNS_MAX) gather its records

Every object is in one shard, so a merge task sees all of an object's records and can apply
whole-object rules (a minimum size) itself. The summaries' id count is an upper bound (an object
in two runs counts twice), which sizes the spec a little larger, never smaller.
"""
from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass

import numpy as np

from emcore import shards
from emcore.storage import Storage

RUNS_MAX = 64       # runs, so route's plan reads and a merge task's ranged reads stay bounded
RUN_MIN = 16        # blocks per run at least: small jobs keep few tasks


@dataclass(frozen=True)
class Runs:
    """The blocks [0, count) split into consecutive runs of equal length."""
    count: int

    @property
    def length(self) -> int:
        return max(RUN_MIN, math.ceil(self.count / RUNS_MAX))

    def __iter__(self):
        return iter(range(0, self.count, self.length))       # each run named by its first block

    def blocks(self, first: int) -> range:
        return range(first, min(first + self.length, self.count))


def _census_key(tmp: str, run: int, ext: str) -> str:
    return f"{tmp}census/{run}.{ext}"


def _route_key(tmp: str, run: int, ext: str) -> str:
    return f"{tmp}route/{run}.{ext}"


def write_census(store: Storage, tmp: str, run: int, rows: np.ndarray, present: np.ndarray,
                 requested: list[int] | None) -> dict:
    """A run's records (a structured array with `id` and `size`) and its summary. `present`: the
    ids that count as found (e.g. with voxels); `requested`: the ids the job asked for, if any."""
    ids = np.unique(present)
    summary = {"ids": int(len(ids)), "bytes": int(rows["size"].sum()),
               "found": sorted({int(i) for i in requested} & set(ids.tolist())) if requested else []}
    store.write(_census_key(tmp, run, "rows"), zlib.compress(rows.tobytes(), 1))
    store.write(_census_key(tmp, run, "json"), json.dumps(summary).encode())
    return summary


def read_census(store: Storage, tmp: str, runs: Runs) -> dict:
    """The runs' summaries summed: ids (an upper bound), bytes, the requested ids found."""
    total = {"ids": 0, "bytes": 0, "found": set()}
    for run in runs:
        summary = json.loads(store.read(_census_key(tmp, run, "json")))
        total["ids"] += summary["ids"]
        total["bytes"] += summary["bytes"]
        total["found"] |= set(summary["found"])
    return total


def route(store: Storage, tmp: str, run: int, dtype: np.dtype, spec: dict) -> dict:
    """A run's records sorted by shard, and each shard's [start, end) in bytes."""
    rows = np.frombuffer(zlib.decompress(store.read(_census_key(tmp, run, "rows"))), dtype)
    shard_of, _ = shards.locate(rows["id"], spec) if len(rows) else (np.zeros(0, np.uint64), None)
    order = np.argsort(shard_of, kind="stable")
    bounds = np.searchsorted(shard_of[order], np.arange(2 ** spec["shard_bits"] + 1, dtype=np.uint64))
    store.write(_route_key(tmp, run, "work"), rows[order].tobytes())
    store.write(_route_key(tmp, run, "index"), (bounds.astype("<u8") * dtype.itemsize).tobytes())
    return {"records": int(len(rows)), "shards": int(np.count_nonzero(np.diff(bounds)))}


def stand_in(store: Storage, tmp: str, runs: Runs, dtype: np.dtype) -> None:
    """Empty census for `emctl plan`: no records in any run."""
    for run in runs:
        write_census(store, tmp, run, np.zeros(0, dtype), np.zeros(0, np.uint64), None)


def gather(store: Storage, tmp: str, runs: Runs, dtype: np.dtype, shard: int) -> np.ndarray:
    """Every record routed to `shard`, from each run: its byte range, then the range itself."""
    found = []
    for run in runs:
        start, end = np.frombuffer(store.read_range(_route_key(tmp, run, "index"), 8 * shard, 8 * shard + 16), "<u8")
        if end > start:
            found.append(np.frombuffer(store.read_range(_route_key(tmp, run, "work"), int(start), int(end)), dtype))
    return np.concatenate(found) if found else np.zeros(0, dtype)


def temporaries(tmp: str, runs: Runs) -> list[str]:
    """Every object census and route write, by name (no listing)."""
    return [key(tmp, run, ext) for run in runs
            for key, ext in ((_census_key, "rows"), (_census_key, "json"), (_route_key, "work"), (_route_key, "index"))]
