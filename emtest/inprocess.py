"""A stage's waves planned and run in this process, as the engine and the workers would, for
tests and benchmarks that look at one task or one wave at a time."""
from __future__ import annotations

from contextlib import contextmanager


def plan(stage, job, store, wave: str) -> list[dict]:
    """The wave's tasks as its plan stores them (JSON objects)."""
    w = stage.wave(wave)
    return [w.params(task) for task in w.plan(job, store)]


def run(stage, job, store, wave: str, index: int, params: dict) -> dict:
    """Task `index` of the wave, from its stored parameters; returns its summary."""
    from emcore.stage import TaskContext
    w = stage.wave(wave)
    return w.run(TaskContext(job, store, stage.name, wave, index), w.task(params))


def run_stage(stage, job, store) -> dict[str, list[dict]]:
    """Every wave of the stage in order, each planned once the one before it ran (later waves
    may depend on what earlier ones stored); returns the summaries by wave."""
    summaries: dict[str, list[dict]] = {}
    while len(summaries) < len(waves := stage.waves(job, store)):
        wave = waves[len(summaries)]
        summaries[wave] = [run(stage, job, store, wave, i, p) for i, p in enumerate(plan(stage, job, store, wave))]
    return summaries


@contextmanager
def shard_side(voxels: int):
    """Shards of at most `voxels` a side while inside (the tasks run in this process), so that a
    small block holds several shards and is built piece by piece, as a 1024^3 block is."""
    from emcore import multiscale
    default = multiscale.SHARD_SIDE
    multiscale.SHARD_SIDE = voxels
    try:
        yield
    finally:
        multiscale.SHARD_SIDE = default
