"""Waiting for a job driven by something else (the emulated cloud) to settle."""
from __future__ import annotations

import time

from orchestrator.status import job_status


def wait_for(store, states=("complete", "failed"), timeout=180, poll=0.3, settled=None):
    """The job's status once it is in one of `states` and `settled(status)` holds (by default:
    no wave still running)."""
    settled = settled or (lambda status: not any(w.state == "running" for w in status.waves))
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            status = job_status(store, notes=False)
            if status.state in states and settled(status):
                return status
        except FileNotFoundError:
            pass  # the job is not submitted yet
        time.sleep(poll)
    raise AssertionError(f"job at {store.url} did not reach {states} in {timeout}s")
