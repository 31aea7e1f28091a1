"""emcore/shuffle.py against numpy: every record reaches exactly the shard its id hashes to, a
re-run task rewrites the same bytes, and the runs stay at most RUNS_MAX whatever the block count."""
from __future__ import annotations

import numpy as np
import pytest

from emcore import shards, shuffle
from emcore.storage import open_storage

DTYPE = np.dtype([("block", "<u4"), ("id", "<u8"), ("offset", "<u8"), ("size", "<u8")])


@pytest.mark.parametrize("count", [1, 15, 16, 17, 1000, 16384, 100_000])
def test_runs_cover_every_block_once_and_stay_bounded(count):
    runs = shuffle.Runs(count)
    covered = [c for run in runs for c in runs.blocks(run)]
    assert covered == list(range(count))
    assert len(list(runs)) <= shuffle.RUNS_MAX


def _records(rng, runs: shuffle.Runs) -> dict[int, np.ndarray]:
    by_run = {}
    for run in runs:
        blocks = runs.blocks(run)
        rows = np.zeros(int(rng.integers(0, 400)), DTYPE)
        rows["block"] = rng.integers(blocks.start, blocks.stop, len(rows))
        rows["id"] = rng.integers(1, 5000, len(rows))
        rows["offset"] = rng.integers(0, 1 << 30, len(rows))
        rows["size"] = rng.integers(1, 1000, len(rows))
        by_run[run] = rows
    return by_run


def test_every_record_reaches_its_shard_once_and_reruns_change_nothing():
    rng = np.random.default_rng(3)
    store = open_storage("mem://shuffle-test/")
    runs = shuffle.Runs(3000)
    by_run = _records(rng, runs)
    wanted = [7, 4999, 123456]
    for run, rows in by_run.items():
        shuffle.write_census(store, "tmp/", run, rows, rows["id"], wanted)
    census = shuffle.read_census(store, "tmp/", runs)
    everything = np.concatenate(list(by_run.values()))
    assert census["bytes"] == int(everything["size"].sum())
    assert census["ids"] >= len(np.unique(everything["id"]))          # an upper bound
    assert census["found"] == {i for i in wanted if i in set(everything["id"].tolist())}
    spec = shards.choose_sharding(census["ids"], census["bytes"], min_shards=64)
    for run in runs:
        shuffle.route(store, "tmp/", run, DTYPE, spec)
    first = {key: store.read(key) for key in shuffle.temporaries("tmp/", runs)}
    for run in runs:                                                  # a redelivered task
        shuffle.route(store, "tmp/", run, DTYPE, spec)
    assert {key: store.read(key) for key in first} == first
    shard_of, _ = shards.locate(everything["id"], spec)
    gathered = 0
    for shard in range(2 ** spec["shard_bits"]):
        got = shuffle.gather(store, "tmp/", runs, DTYPE, shard)
        expected = everything[shard_of == shard]
        assert sorted(got.tolist()) == sorted(expected.tolist()), shard
        gathered += len(got)
    assert gathered == len(everything)
