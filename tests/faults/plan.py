"""Faults armed by a test, injected into the real function servers of the emulated deployment
(tests/cloud_gcp.py with faults=True): the fakes of this suite, named as such, used only where no
real part can cause the fault on demand (a publish that fails, a process that dies at a given
point). Everything around them is real: Pub/Sub, the bucket, the handlers, the redeliveries.

The test writes the plan (JSON) to $EMCTL_FAULTS_DIR/plan.json; the servers read it at every
call, so a test arms faults while the deployment runs. A one-shot fault fires once across all
processes (a create-only file in that directory marks it fired). The servers log every task run
(`runs.log`: start and end, with the process id) and their storage operations (`ops-<pid>`).

  publish_fail      {"wave", "call"}  orchestrator: its `call`-th publish of the wave fails, nothing sent
  publish_rate      p                 every process: each publish (a batch: after sending a random part
                                      of it) and each event fails with probability p
  kill_orchestrator {"wave", "call"}  orchestrator: SIGKILLs itself before its `call`-th publish of the wave
  lose_wave_done    {"wave"}          worker: its first wave_done for the wave fails to publish
  drop_wave_done    {"wave"}          orchestrator: acknowledges the first wave_done of the wave, does nothing
  kill_worker       {"wave", "task"}  worker: SIGKILLs itself at the start of the task's first run
"""
from __future__ import annotations

import collections
import json
import os
import random
import signal
import threading
import time

DIR = os.environ.get("EMCTL_FAULTS_DIR", "")
_lock = threading.Lock()
_calls: collections.Counter = collections.Counter()
# Seeded by role, not process: the same run of calls meets the same failures.
_random = random.Random(os.environ.get("EMCTL_TEST_STAGE", "orchestrator"))


class InjectedFault(RuntimeError):
    """A failure this suite caused on purpose."""


def plan() -> dict:
    try:
        with open(os.path.join(DIR, "plan.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def arm(directory: str, **faults) -> None:
    """Replace the plan (from the test process); one-shot faults already fired stay fired."""
    path = os.path.join(directory, "plan.json")
    with open(path + ".tmp", "w") as f:
        json.dump(faults, f)
    os.replace(path + ".tmp", path)


def once(name: str) -> bool:
    """True the first time any process asks for `name`."""
    try:
        os.close(os.open(os.path.join(DIR, f"fired-{name}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def nth_call(wave: str) -> int:
    with _lock:
        _calls[wave] += 1
        return _calls[wave]


def unlucky() -> bool:
    rate = plan().get("publish_rate", 0)
    with _lock:
        hit = _random.random() < rate
    if hit:
        note("publish failed")
    return hit


def note(what: str) -> None:
    with open(os.path.join(DIR, "faults.log"), "a") as f:
        f.write(f"{os.getpid()} {what}\n")


def partial(messages: list) -> list:
    with _lock:
        return messages[:_random.randrange(len(messages) + 1)]


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def log_run(event: str, root: str, wid: str, task: int) -> None:
    with open(os.path.join(DIR, "runs.log"), "a") as f:
        f.write(f"{event} {os.getpid()} {root} {wid} {task} {time.time():.6f}\n")


def run_log(directory: str, root: str) -> list[tuple[str, int, str, int, float]]:
    """(event, pid, wave id, task, time) of every run of the job at `root`, from the servers' log."""
    out = []
    with open(os.path.join(directory, "runs.log")) as f:
        for line in f:
            event, pid, where, wid, task, at = line.split()
            if where == root:
                out.append((event, int(pid), wid, int(task), float(at)))
    return out


def runs(directory: str, root: str) -> tuple[dict, dict]:
    """(starts, ends) of each (wave id, task) of the job at `root`."""
    starts, ends = collections.Counter(), collections.Counter()
    for event, _, wid, task, _ in run_log(directory, root):
        (starts if event == "start" else ends)[(wid, task)] += 1
    return starts, ends


def operations(directory: str) -> int:
    """Storage operations of every server process so far (each wrote its own total)."""
    total = 0
    for name in os.listdir(directory):
        if name.startswith("ops-"):
            with open(os.path.join(directory, name)) as f:
                total += int(f.read() or 0)
    return total


def write_ops(total: int) -> None:
    with open(os.path.join(DIR, f"ops-{os.getpid()}"), "w") as f:
        f.write(str(total))


def count_storage_operations() -> list[int]:
    """Count every operation of this process's gs:// Storage instances; returns the live counter."""
    from emcore.storage_cloud import GCSStorage
    counter = [0]
    for name in ("_read", "_write", "_create", "_exists", "_list_page", "_delete"):
        real = getattr(GCSStorage, name)

        def counted(store, *args, _real=real):
            with _lock:
                counter[0] += 1
            return _real(store, *args)
        setattr(GCSStorage, name, counted)
    return counter
