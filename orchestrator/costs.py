"""What a job will cost, before it runs: the simulated orchestration (exact) plus each stage's
estimate of its tasks' I/O and compute, priced from `prices.json` (one editable table) at the memory
each stage's profile says a task uses (emcore/spec.py)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from emcore import registry
from orchestrator.simulate import WaveReport
from orchestrator.throughput import kind

PRICES = os.path.join(os.path.dirname(__file__), "prices.json")
READ_OPS = ("read", "exists")


def load_prices(path: str | None = None) -> dict:
    with open(path or PRICES, encoding="utf-8") as f:
        return json.load(f)


def _lookup(table: dict, wave: str):
    """The wave's own row, else its kind's (numbered waves: throughput.kind), else its stage's."""
    for name in (wave, kind(wave), wave.split(".", 1)[0]):
        if name in table:
            return table[name]
    return table["default"]


@dataclass
class WaveCost:
    wave: str
    tasks: int
    messages: int
    storage_ops: int
    cpu_seconds: float
    memory_gib: float
    gcp: float
    aws: float
    local_seconds: float
    local: float


def wave_cost(report: WaveReport, prices: dict, cores: int, message_bytes: int = 600) -> WaveCost:
    mb_per_s = _lookup(prices["throughput_mb_per_core_second"], report.wave)
    memory = registry.spec(report.wave.split(".", 1)[0]).profile.task_memory_gib
    cpu = report.bytes_in / 1e6 / mb_per_s
    reads = sum(n for op, n in report.orchestration_ops.items() if op in READ_OPS) + report.task_reads
    writes = sum(n for op, n in report.orchestration_ops.items() if op not in READ_OPS) + report.task_writes

    def cloud(p: dict) -> float:
        compute = cpu * p["compute_vcpu_second"] + cpu * memory * p["compute_gib_second"]
        requests = report.messages * p["request"]
        if "message_tib" in p:
            billed = max(message_bytes, p["message_min_bytes"]) * report.messages
            messages = billed / 2**40 * p["message_tib"] * 2  # published and delivered
        else:
            messages = report.messages * 3 / 1e6 * p["message_million"]  # send, receive, delete
        return compute + requests + messages + reads * p["storage_read_op"] + writes * p["storage_write_op"]

    local_seconds = cpu / max(1, cores)
    local = local_seconds / 3600 * prices["local"]["watts"] / 1000 * prices["local"]["kwh"]
    return WaveCost(report.wave, report.tasks, report.messages, reads + writes, cpu, memory,
                    cloud(prices["gcp"]), cloud(prices["aws"]), local_seconds, local)
