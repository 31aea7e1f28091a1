"""No wave can stall, in-process: the engine and the worker protocol on `mem://` with queues that
fail on purpose (named FailingQueue: the in-process stand-in of a publish that fails part-way).
Every test counts what was published, so "re-driven" means exactly the missing tasks, and
"nothing redone" means no finished task published again."""
from __future__ import annotations

import collections
import json
import time

import pytest

from emcore import counting
from emcore import registry
from emcore.entry import run_delivery
from emcore.failures import failed_key
from emcore.jobroot import done_key, dumps, fanout_prefix, marker_key, started_key
from emcore.storage import MemoryStorage, open_storage
from emcore.worker import execute
from orchestrator import engine
from orchestrator.fanout import BATCH, Turn, Pending
from orchestrator.status import job_status
from tests.noop import RecordingQueue, make_job


class PublishFailed(RuntimeError):
    pass


class FailingQueue(RecordingQueue):
    """Fails the publish calls numbered in `fail_calls` (1-based), after accepting the first
    `accepted` messages of that call, as a Pub/Sub batch whose later futures fail does."""

    def __init__(self, fail_calls=(), accepted=0, fail_events=0):
        super().__init__()
        self.calls, self.fail_calls, self.accepted, self.fail_events = 0, set(fail_calls), accepted, fail_events

    def publish(self, messages):
        self.calls += 1
        if self.calls in self.fail_calls:
            super().publish(messages[:self.accepted])
            raise PublishFailed(f"publish call {self.calls} failed after {self.accepted} messages")
        super().publish(messages)

    def publish_event(self, event):
        if self.fail_events:
            self.fail_events -= 1
            raise PublishFailed("event lost")
        super().publish_event(event)


def submitted(url, tasks, **extra):
    job = make_job(url, tasks, **extra)
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    return job, store


def published(queue, wave="a"):
    return collections.Counter(m.task for m in queue.messages if m.wave == wave)


def test_a_publish_failing_mid_fan_out_is_carried_on_by_the_redelivered_event(noop_stage):
    job, store = submitted("mem://fanout/mid/", 2500)
    queue = FailingQueue(fail_calls={2})
    with pytest.raises(PublishFailed):
        engine.advance(job, store, queue)               # the event's first delivery
    assert sum(published(queue).values()) == BATCH and store.exists(started_key("noop.a"))
    assert engine.advance(job, store, queue) is None    # its redelivery
    assert published(queue) == {t: 1 for t in range(2500)}, "every task once, none twice"


def test_a_batch_half_accepted_when_publishing_failed_is_published_again_whole(noop_stage):
    job, store = submitted("mem://fanout/half/", 2500)
    queue = FailingQueue(fail_calls={2}, accepted=300)
    with pytest.raises(PublishFailed):
        engine.advance(job, store, queue)
    engine.advance(job, store, queue)
    counts = published(queue)
    assert set(counts) == set(range(2500))
    assert sorted(t for t, n in counts.items() if n == 2) == list(range(BATCH, BATCH + 300))


def test_a_budget_bounds_each_invocation_and_continuations_finish_the_wave(noop_stage):
    job, store = submitted("mem://fanout/turn/", 10_000)
    queue = RecordingQueue()
    pending = engine.advance(job, store, queue, turn=Turn(3000))
    invocations = [len(queue.messages)]
    while pending is not None:
        before = len(queue.messages)
        pending = engine.continue_round(job, store, Pending(**json.loads(json.dumps(pending.__dict__))), queue,
                                        Turn(3000))
        invocations.append(len(queue.messages) - before)
    assert invocations == [3000, 3000, 3000, 1000]
    assert published(queue) == {t: 1 for t in range(10_000)}


def test_a_lost_wave_done_is_sent_again_by_the_task_redelivered(noop_stage):
    job, store = submitted("mem://fanout/lost/", 3)
    queue = RecordingQueue()
    engine.advance(job, store, queue)
    events = FailingQueue(fail_events=1)
    stage = registry.stage("noop")
    for message in queue.messages[:2]:
        run_delivery(message, stage, lambda: events)
    last = queue.messages[2]
    with pytest.raises(PublishFailed):
        run_delivery(last, stage, lambda: events)       # closes the wave, then its event is lost
    assert store.exists(done_key("noop.a")) and events.events == []
    run_delivery(last, stage, lambda: events)           # the redelivery: a duplicate, but it tells
    assert events.events == [{"kind": "wave_done", "root": store.url, "wave": "noop.a"}]
    assert counting.record_done(store, "noop.a", 3, 0) is counting.Count.DONE


def test_a_replaced_job_never_runs_or_counts_the_old_jobs_messages(noop_stage):
    """Warm workers, one root, two jobs: the second (200 tasks a wave, other options) is not
    declared done at 100 by a message of the first still in flight."""
    first, store = submitted("mem://fanout/replaced/", 100)
    old = RecordingQueue()
    engine.advance(first, store, old)
    stage = registry.stage("noop")
    run_delivery(old.messages[0], stage, lambda: RecordingQueue())     # a warm worker ran the first job
    for key in list(store.list()):                                     # the user deletes the old job
        store.delete(key)
    second, _ = submitted("mem://fanout/replaced/", 200)
    new = RecordingQueue()
    engine.advance(second, store, new)
    for message in old.messages[1:]:                                   # still in flight: stale
        assert run_delivery(message, stage, lambda: RecordingQueue()) == {"task": message.task, "stale": True}
    assert not store.exists(marker_key("noop.a", 1)), "the stale task did not run"
    events = RecordingQueue()
    for message in new.messages[:100]:
        run_delivery(message, stage, lambda: events)
    assert not store.exists(done_key("noop.a")) and events.events == []
    for message in new.messages[100:]:
        run_delivery(message, stage, lambda: events)
    assert store.exists(done_key("noop.a")) and len(events.events) == 1


def test_retry_publishes_before_it_forgets_the_failures(noop_stage):
    job, store = submitted("mem://fanout/retry/", 5)
    queue = RecordingQueue()
    engine.advance(job, store, queue)
    for message in queue.messages:
        if message.task == 3:
            engine.record_failure(store, message, ("broken", None))
        else:
            execute(message, registry.stage("noop"), store)
    with pytest.raises(PublishFailed):
        engine.retry(job, store, FailingQueue(fail_calls={1}))
    assert store.exists(failed_key("noop.a", 3)), "still there to retry from"
    again = RecordingQueue()
    assert engine.retry(job, store, again) == [3]
    assert [m.task for m in again.messages] == [3] and not store.exists(failed_key("noop.a", 3))


def test_a_resume_round_publishes_only_what_is_unfinished_and_a_repeated_round_nothing(noop_stage):
    job, store = submitted("mem://fanout/resume/", 1500)
    lost = RecordingQueue()
    engine.advance(job, store, lost)
    for message in lost.messages[:1200]:
        execute(message, registry.stage("noop"), store)
    queue = RecordingQueue()
    engine.resume(job, store, queue, round_id="sweep1")
    assert sorted(published(queue)) == list(range(1200, 1500))
    engine.resume(job, store, queue, round_id="sweep1")              # the same sweep, redelivered
    assert sum(published(queue).values()) == 300
    assert len(list(store.list(fanout_prefix("noop.a", "sweep1")))) == 2


def _age(store, seconds):
    """Make everything under the store look `seconds` older (the mem:// store keeps its own times)."""
    times = MemoryStorage._times[store.url.split("/")[2]]
    for key in times:
        times[key] -= seconds


def test_status_tells_a_stalled_job_from_a_running_one_and_the_sweep_re_drives_it(noop_stage):
    from orchestrator import sweep
    job, store = submitted("mem://stall-bucket/jobs/x/", 30)
    queue = RecordingQueue()
    engine.advance(job, store, queue)
    for message in queue.messages:                       # wave a finishes, its wave_done is lost
        execute(message, registry.stage("noop"), store)
        counting.record_done(store, "noop.a", 30, message.task, dumps({"time": time.time()}))
    sweep.register(store.url)
    assert job_status(store).state == "running"
    _age(store, 3600)
    status = job_status(store, stall_seconds=1800)
    assert status.state == "stalled" and [w.state for w in status.waves] == ["done", "stalled"]
    queue.messages.clear()
    report = sweep.sweep({"kind": "sweep", "bucket": "mem://stall-bucket/", "stall_seconds": 1800},
                         lambda root: queue, Turn(5000))
    assert "re-driven" in report and sorted(published(queue, "b")) == list(range(30))
    assert job_status(store).state == "running"
    for message in list(queue.messages):
        execute(message, registry.stage("noop"), store)
        engine.on_marker(job, store, "noop.b", message.task, queue)
    assert job_status(store).state == "complete"
    sweep.sweep({"kind": "sweep", "bucket": "mem://stall-bucket/"}, lambda root: queue, Turn())
    assert list(open_storage("mem://stall-bucket/").list(sweep.ACTIVE)) == [], "a complete job is forgotten"


def test_a_failed_gpu_job_launch_is_retried_by_the_redelivery_before_anything_is_published(noop_stage, monkeypatch):
    """The orchestrator's GPU queue (seamless/kube.py) against the Kubernetes API stand-in of
    emtest/kube.py, whose first Job creation fails (500): nothing of the wave is
    published, the event's redelivery creates the Job and publishes every task once, and the job
    completes. The noop stage stands in for a GPU stage (no GPU runs here)."""
    from http.server import ThreadingHTTPServer
    import threading
    from kubernetes.client import ApiClient, Configuration
    from seamless import kube
    from emtest.kube import NAMES, SETTINGS, FakeKubernetes

    class FailingOnce(FakeKubernetes):
        def do_POST(self):
            if not plan_failed:
                plan_failed.append(self.path)
                self.rfile.read(int(self.headers["Content-Length"]))
                return self._reply(500, {"kind": "Status", "message": "injected: API server unavailable"})
            super().do_POST()
    plan_failed: list = []
    FailingOnce.jobs, FailingOnce.requests = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FailingOnce)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    configuration = Configuration()
    configuration.host = f"http://127.0.0.1:{server.server_address[1]}"
    api = ApiClient(configuration)
    monkeypatch.setattr(registry, "gpu_job_stages", lambda: ("noop",))
    launch = lambda *args: kube.launch_wave(*args, settings=SETTINGS, api=api, resource_names=NAMES)  # noqa: E731
    try:
        job, store = submitted("mem://fanout/gpu/", 40)
        inner = RecordingQueue()
        queue = kube.LaunchingQueue(inner, launch=launch)
        with pytest.raises(Exception, match="500"):
            engine.advance(job, store, queue)                      # the launch fails
        assert plan_failed and inner.messages == [], "nothing published without a Job to run it"
        engine.advance(job, store, queue)                          # the redelivery
        assert len(FailingOnce.jobs) == 1 and published(inner) == {t: 1 for t in range(40)}
        done = 0
        while done < len(inner.messages):                          # the Job's pods, and the next wave's
            message = inner.messages[done]
            execute(message, registry.stage("noop"), store)
            engine.on_marker(job, store, message.wave_id, message.task, queue)
            done += 1
        assert job_status(store).state == "complete" and done == 80
        assert sum(1 for r in FailingOnce.requests if r[0] == "POST") == 2, "one Job per wave (a and b)"
    finally:
        server.shutdown()
