"""Measured throughputs: markers -> MB per CPU-second per wave, kind and stage -> the price
table `emctl plan` reads, and the plan's lookup order."""
from __future__ import annotations

import json

import pytest

from emcore.jobroot import marker_key
from emcore.storage import open_storage
from orchestrator import throughput
from orchestrator.costs import _lookup, load_prices


def _job(tmp_path, markers):
    store = open_storage(str(tmp_path))
    for wave, task, bytes_in, cpu in markers:
        marker = {"task": task, "summary": {"bytes_in": bytes_in}, "seconds": 1.0}
        if cpu is not None:
            marker["cpu_seconds"] = cpu
        store.create(marker_key(wave, task), json.dumps(marker).encode())
    return store


def test_markers_become_rows_and_rows_the_table(tmp_path):
    store = _job(tmp_path, [("pyramid.0", 0, 300e6, 2.0), ("pyramid.0", 1, 100e6, 2.0),
                            ("pyramid.1", 0, 50e6, 1.0), ("pyramid.tidy", 0, 0, 0.1),
                            ("cc.downsample1", 0, 1e6, 0.01),             # too little CPU for a row
                            ("cc.blocks", 0, 10e6, None)])                # a duplicate's acknowledgement
    measured = throughput.measure(store)
    assert measured["pyramid.0"] == {"tasks": 2, "bytes_in": 400e6, "cpu_seconds": 4.0}
    assert "cc.blocks" not in measured
    rows = throughput.rows(measured)
    assert rows["pyramid.0"] == 100.0 and rows["pyramid.1"] == 50.0
    assert rows["pyramid.N"] == rows["pyramid"] == pytest.approx(450 / 5)
    assert "cc.downsample1" not in rows and "pyramid.tidy" not in rows
    prices = throughput.fold(load_prices(), measured, "a test")
    table = prices[throughput.TABLE]
    assert table["pyramid.0"] == 100.0 and prices[throughput.SOURCES]["pyramid.N"] == "a test"
    assert table["align.pairs"] == load_prices()[throughput.TABLE]["align.pairs"]    # kept as typed
    # The plan looks a wave up by name, then by kind, then by stage, then the default.
    assert _lookup(table, "pyramid.0") == 100.0
    assert _lookup(table, "pyramid.3") == table["pyramid.N"]
    assert _lookup(table, "pyramid.tidy") == table["pyramid"]
    assert _lookup(table, "skeleton.blocks") == table["default"]
