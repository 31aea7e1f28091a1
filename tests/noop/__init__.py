"""A stage whose tasks do nothing but exist, so that every storage operation and message counted
around it is the engine's, the queue's and the worker protocol's; registered (`register()`) by
the engine tests in-process, and by the fault-injecting function servers (tests/faults/) in
theirs. Also what those tests share: the queue that keeps what is published, and the job."""
from __future__ import annotations

import threading

PACKAGE = __name__


def register() -> None:
    from emcore import registry
    registry.register(PACKAGE)


def unregister() -> None:
    from emcore import registry
    registry.unregister(PACKAGE)


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
    from emcore.job import load_job
    return load_job({"id": "engine-test", "dest": dest, "stages": {"noop": {"tasks": tasks}}, **extra})
