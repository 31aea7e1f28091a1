"""A stage whose tasks do nothing but exist, so that every storage operation and message counted
around it is the engine's, the queue's and the worker protocol's. Registered by the engine tests
in-process, and by the fault-injecting function servers (tests/faults/) in theirs."""
from __future__ import annotations

import threading

from emcore.schema import Field, Section


class CountingStage:
    """Two waves of `tasks` tasks each; a task only returns its parameters."""
    name = "noop"

    def waves(self, job, store):
        return ["a", "b"] if job.stage("noop") is not None else []

    def plan(self, job, wave, store):
        return [{"i": i} for i in range(job.stage("noop")["tasks"])]

    def run(self, ctx, params):
        # The job's own option, as the worker that ran the task read it.
        return {"i": params["i"], "salt": ctx.job.stage("noop")["salt"]}


OPTIONS = Section("noop", "engine test stage", fields=(Field("tasks", "int", 10), Field("salt", "str", "none")))


def register() -> None:
    from orchestrator import registry
    registry.register_stage(CountingStage(), OPTIONS)


class RecordingQueue:
    """Keeps what is published: the queue of the in-process tests."""

    def __init__(self):
        self.messages = []
        self.events: list[dict] = []
        self.lock = threading.Lock()

    def publish(self, messages):
        with self.lock:
            self.messages.extend(messages)

    def publish_event(self, event: dict):
        with self.lock:
            self.events.append(event)


def make_job(dest: str, tasks: int, **extra):
    from orchestrator import registry
    return registry.load_job({"id": "engine-test", "dest": dest, "stages": {"noop": {"tasks": tasks}}, **extra})
