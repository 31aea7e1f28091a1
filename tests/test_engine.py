"""The wave engine on its own: a trivial stage (tests/noop/: its tasks do nothing but
exist) so that every storage operation counted is the engine's and the worker protocol's."""
from __future__ import annotations

import threading

import pytest

from emcore import registry
from emcore import failures
from emcore.job import load_job
from emcore.jobroot import done_key, marker_key, started_key
from emcore.storage import open_storage
from emcore.worker import execute
from orchestrator import engine
from orchestrator.fanout import Turn
from orchestrator.local import LocalRunner
from tests.noop import RecordingQueue, make_job
from tests.noop.stage import Echo


def test_10000_task_wave_costs_linear_storage_operations(noop_stage):
    n = 10_000
    job = make_job("mem://engine/linear/", n)
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    queue = RecordingQueue()
    engine.advance(job, store, queue)
    assert len(queue.messages) == n
    before = sum(store.ops.values())
    # The worker's own operations go through its own Storage instance (as in a separate process).
    worker_store = open_storage(job.dest)
    completed = 0
    for message in list(queue.messages[:n]):
        marker = execute(message, registry.stage("noop"), worker_store)
        assert marker["summary"] == {"i": message.task, "salt": "none"}
        completed += engine.on_marker(job, store, message.wave_id, message.task, queue)
    assert completed == 1
    assert store.exists(done_key("noop.a"))
    total = sum(store.ops.values()) - before + sum(worker_store.ops.values())
    # Per task: job.json (its generation), marker exists-check and create (worker), one group
    # listing (orchestrator); per closed group one create and one listing; the next wave's plan,
    # claim, probes and fan-out records are O(1) per 1000 tasks.
    c = 4.5
    print(f"{n}-task wave: {total} storage operations, {total / n:.3f} per task (bound c = {c})")
    assert total <= c * n
    # And the next wave was fanned out once.
    assert len(queue.messages) == 2 * n
    assert store.exists(started_key("noop.b"))


def test_racing_orchestrators_fan_out_the_next_wave_once(noop_stage, tmp_path):
    n = 250
    job = make_job(str(tmp_path / "race"), n)
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    queue = RecordingQueue()
    engine.advance(job, store, queue)
    for message in queue.messages:
        execute(message, registry.stage("noop"))
    # Every marker exists; now 8 orchestrator invocations each receive every marker event at
    # once (a notification storm, duplicated deliveries included) and also call advance().
    completions = []
    barrier = threading.Barrier(8)

    def orchestrator_invocation(seed):
        s = open_storage(job.dest)
        barrier.wait()
        order = range(n) if seed % 2 else reversed(range(n))
        for task in order:
            turn = Turn(owner=f"event-{seed}-{task}")   # each marker event its own delivery
            if engine.on_marker(job, s, "noop.a", task, queue, turn=turn):
                completions.append(task)
            if task % 50 == 0:
                engine.advance(job, s, queue, turn=turn)

    threads = [threading.Thread(target=orchestrator_invocation, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(completions) == 1, "exactly one invocation sees the wave complete"
    wave_b = [m for m in queue.messages if m.wave == "b"]
    assert sorted(m.task for m in wave_b) == list(range(n)), "wave b fanned out exactly once"


def test_local_runner_retries_then_dead_letters(noop_stage, tmp_path, monkeypatch):
    job = load_job({"id": "flaky", "dest": str(tmp_path / "flaky"), "attempts": 2,
                             "stages": {"noop": {"tasks": 20}}})
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    calls = {}
    real_run = Echo.run

    def flaky(self, ctx, task):
        calls[ctx.task] = calls.get(ctx.task, 0) + 1
        if ctx.task == 7:
            raise RuntimeError("always broken")
        if ctx.task == 3 and calls[3] == 1:
            raise RuntimeError("broken once")
        return real_run(self, ctx, task)

    monkeypatch.setattr(Echo, "run", flaky)
    monkeypatch.setattr("orchestrator.local.BACKOFF_SECONDS", 0.01)
    LocalRunner(job, store, workers=0).run()
    assert calls[3] == 2 and calls[7] == 2 and calls[0] == 1
    assert failures.failed_tasks(store, "noop.a") == [7]
    assert not store.exists(done_key("noop.a"))
    monkeypatch.setattr(Echo, "run", real_run)
    calls.clear()
    stats = LocalRunner(job, store, workers=0).run("retry")
    assert stats["noop.a"].tasks == 1, "retry runs only the failed task"
    assert store.exists(done_key("noop.b"))


def test_resume_closes_groups_lost_in_a_crash(noop_stage):
    n = 450
    job = make_job("mem://engine/crash/", n)
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    queue = RecordingQueue()
    engine.advance(job, store, queue)
    # Simulate a crash: every marker written, but no orchestrator ever counted them.
    for message in queue.messages:
        store.create(marker_key(message.wave_id, message.task), b"{}")
    queue.messages.clear()
    engine.resume(job, store, queue)
    assert store.exists(done_key("noop.a"))
    assert {m.wave for m in queue.messages} == {"b"} and len(queue.messages) == n


def test_a_different_job_at_the_same_root_is_refused_naming_what_differs(noop_stage):
    store = open_storage("mem://engine/conflict/")
    assert engine.submit_job(store, make_job(store.url, 5)) is True
    assert engine.submit_job(store, make_job(store.url, 5)) is False       # the same job: a resume
    with pytest.raises(engine.JobConflict, match=r"differing: stages\.noop\.tasks\)"):
        engine.submit_job(store, make_job(store.url, 6))
