"""The pods of a GPU Job: pull the stage's tasks from a Pub/Sub PULL subscription and run each with
`emcore.entry.run_delivery`, the same path as every Cloud Run and Lambda delivery (skip if the
marker exists, run, write the marker, count it, tell the orchestrator when the wave closes).

One message at a time: a GPU holds one model and one task's arrays, and a pod that took more than
it can run would only sit on them. While a task runs, a thread keeps extending the message's
lease, so a long task is not redelivered to another pod mid-way (a lease shorter than a task
duplicates work). Success acks; failure nacks (redelivered with the subscription's backoff, and
after its attempts dead-lettered to the orchestrator, which records the failure with the error
the task stored). A message that is not a task at all is acked and logged: no retry can fix it.

The worker exits 0 once the subscription has been quiet for `idle` seconds and every wave it
worked on is done; or, failing that, after `max_idle` quiet seconds. The second rule is for a
wave with a failed task: the task comes back only after the subscription's retry backoff (up to
10 minutes), so `max_idle` must exceed that backoff, or the retry would find no worker and the
wave would wait for the next Job. SIGTERM (spot preemption, Job deletion) stops the worker after
the task in hand; if the pod is killed first, the task's lease lapses and Pub/Sub delivers it
again.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field, replace

from emcore.entry import run_delivery
from emcore.jobroot import done_key
from emcore.protocol import TaskMessage
from emcore.stage import Stage
from emcore.storage import open_storage

log = logging.getLogger("emctl")

LEASE_SECONDS = 60


@dataclass
class Tally:
    done: int = 0
    failed: int = 0
    malformed: int = 0
    stages: dict = field(default_factory=dict)
    waves: set = field(default_factory=set)       # (root, wave id) of every task handled

    def waves_done(self) -> bool:
        try:
            return all(open_storage(root).exists(done_key(wid)) for root, wid in self.waves)
        except Exception:                           # a root that is gone will never be done
            return False


class _Lease(threading.Thread):
    """Extends one message's ack deadline every third of it until stopped."""

    def __init__(self, subscriber, subscription: str, ack_id: str, seconds: int):
        super().__init__(daemon=True)
        self.args = (subscriber, subscription, ack_id, seconds)
        self.stopped = threading.Event()

    def run(self) -> None:
        subscriber, subscription, ack_id, seconds = self.args
        while not self.stopped.wait(seconds / 3):
            try:
                subscriber.modify_ack_deadline(request={"subscription": subscription, "ack_ids": [ack_id],
                                                        "ack_deadline_seconds": seconds})
            except Exception as e:  # the next extension, or the redelivery, makes up for it
                log.warning("lease extension failed: %s", e)


def drain(subscription: str, stages: dict[str, Stage], events, idle: float = 120.0, max_idle: float = 900.0,
          pull_timeout: float = 10.0, max_tasks: int | None = None, subscriber=None,
          stop: threading.Event | None = None) -> Tally:
    """Run tasks from `subscription` (a full projects/.../subscriptions/... path) until it is
    drained (see the module's docstring for `idle` and `max_idle`). `stages` maps stage names to
    the stages this worker runs; `events()` gives the channel to the orchestrator (made only when
    a task closes its wave)."""
    from google.api_core import exceptions
    from google.cloud import pubsub_v1
    subscriber = subscriber or pubsub_v1.SubscriberClient()
    stop = stop or threading.Event()
    tally = Tally()
    pull_timeout = min(pull_timeout, max(1.0, idle))
    last = time.monotonic()
    while not stop.is_set() and (max_tasks is None or tally.done + tally.failed < max_tasks):
        try:
            response = subscriber.pull(request={"subscription": subscription, "max_messages": 1}, timeout=pull_timeout)
            received = list(response.received_messages)
        except (exceptions.DeadlineExceeded, exceptions.ServiceUnavailable, exceptions.InternalServerError):
            received = []
        if not received:
            quiet = time.monotonic() - last
            if quiet >= max_idle or (quiet >= idle and tally.waves_done()):
                break
            continue
        for item in received:
            _handle(subscriber, subscription, item, stages, events, tally)
        last = time.monotonic()
    return tally


def _handle(subscriber, subscription: str, item, stages: dict[str, Stage], events, tally: Tally) -> None:
    ack = {"subscription": subscription, "ack_ids": [item.ack_id]}
    try:
        message = TaskMessage.from_bytes(item.message.data)
    except ValueError as e:
        log.error("message %s is not a task (%s): dropped", item.message.message_id, e)
        subscriber.acknowledge(request=ack)
        tally.malformed += 1
        return
    # The delivery attempt is only counted by subscriptions with a dead-letter policy.
    message = replace(message, attempt=item.delivery_attempt or 1)
    stage = stages.get(message.stage)
    tally.waves.add((message.root, message.wave_id))
    lease = _Lease(subscriber, subscription, item.ack_id, LEASE_SECONDS)
    lease.start()
    try:
        if stage is None:
            raise ValueError(f"message for stage {message.stage!r} reached a worker of {sorted(stages)}")
        run_delivery(message, stage, events)
        ok = True
    except Exception as e:  # run_delivery stored the error beside the job
        log.error("task %s/%s failed: %s", message.wave_id, message.task, e)
        ok = False
    finally:
        lease.stopped.set()
        lease.join()
    if ok:
        subscriber.acknowledge(request=ack)
        tally.done += 1
        tally.stages[message.wave_id] = tally.stages.get(message.wave_id, 0) + 1
    else:
        subscriber.modify_ack_deadline(request={**ack, "ack_deadline_seconds": 0})   # nack: redeliver
        tally.failed += 1


def stop_on_sigterm() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop
