"""Starting jobs from uploads at scale, in-process on `mem://` with the orchestrator's own event
handlers: a 10,000-section upload in config-last order (the order `emctl start` uses) starts its
job with a bounded number of storage operations in every event, O(N) in all; and uploads of two
jobs never overwrite each other."""
from __future__ import annotations

import collections
import json

import cv2
import numpy as np
import pytest

from emcore.job import load_job
from emcore.jobroot import marker_prefix
from emcore.storage import MemoryStorage, open_storage
from orchestrator import cloud, trigger
from orchestrator.engine import JobConflict
from orchestrator.fanout import Turn
from orchestrator.trigger import ARRIVALS
from orchestrator.upload import upload_job
from tests.noop import RecordingQueue

SECTIONS = 10_000
# Storage operations one event may make: a page of SECTIONS_PER_EVENT sections at about two
# each (a create-only arrival marker, a listing of its group), the closures above them, and on
# the event that completes the count, the job's submission and its first wave's plan and first
# turn of messages (their fan-out records and marker listings): 2P + 120. A redelivered event
# finds its sections' groups full and re-checks the level above each (three more operations
# each, for the two levels of 10,000 sections): 5P + 120.
FIXED = 120
BOUND_PER_EVENT = 2 * trigger.SECTIONS_PER_EVENT + FIXED
BOUND_PER_REDELIVERY = 5 * trigger.SECTIONS_PER_EVENT + FIXED


class CountedOps:
    """Counts every operation any mem:// Storage makes (each event opens its own instances)."""

    def __init__(self, monkeypatch):
        self.total = 0
        for name in ("_read", "_write", "_create", "_exists", "_list_page", "_delete"):
            real = getattr(MemoryStorage, name)
            monkeypatch.setattr(MemoryStorage, name, self._counting(real))

    def _counting(self, real):
        def counted(store, *args):
            self.total += 1
            return real(store, *args)
        return counted


def _deliver(event: dict, queue) -> str:
    """What the events subscription does with an event: the orchestrator's own handler."""
    return cloud.on_event(event, Turn(5000, owner=str(id(event))))


def test_a_10000_section_upload_config_last_starts_with_bounded_operations_per_event(monkeypatch):
    bucket = "mem://trigger-10k/"
    png = cv2.imencode(".png", np.full((8, 8), 7, np.uint8))[1].tobytes()
    raw = open_storage(f"{bucket}uploads/big/raw/")
    for z in range(SECTIONS):
        raw.write(f"img{z:05d}.png", png)
    config = {"id": "big", "source": raw.url, "maxz": SECTIONS - 1, "dest": f"{bucket}jobs/big/",
              "stages": {"pyramid": {}}}
    ops = CountedOps(monkeypatch)
    queue = RecordingQueue()
    monkeypatch.setattr(cloud, "task_queue", lambda url: queue)
    per_event = []

    def event(handle):
        before = ops.total
        handle()
        per_event.append(ops.total - before)

    for z in range(SECTIONS):                      # sections first: nothing to do yet
        event(lambda: trigger.on_upload(bucket, f"uploads/big/raw/img{z:05d}.png", queue, Turn(5000)))
    assert set(per_event) == {1}, "a section before its config costs one read"
    open_storage(f"{bucket}uploads/big/").write("job.json", json.dumps(config).encode())
    event(lambda: trigger.on_upload(bucket, "uploads/big/job.json", queue, Turn(5000)))
    handed_on = collections.Counter()
    while queue.events:
        pending = queue.events.pop(0)
        handed_on[pending["kind"]] += 1
        event(lambda: _deliver(pending, queue))
    config_events = per_event[SECTIONS:]
    print(f"\n{SECTIONS} sections, config last: {len(config_events)} events after the config, at most "
          f"{max(config_events)} storage operations each (bound {BOUND_PER_EVENT}), {ops.total} in all, "
          f"{ops.total / SECTIONS:.2f} per section; continuations {dict(handed_on)}")
    assert handed_on["arrivals"] == SECTIONS // trigger.SECTIONS_PER_EVENT - 1
    assert max(config_events) <= BOUND_PER_EVENT
    assert ops.total <= 3.2 * SECTIONS, "O(N) in all"
    render = collections.Counter(m.task for m in queue.messages if m.wave_id == "align.render")
    assert render == {z: 1 for z in range(SECTIONS)}, "the job started: every render task published once"


def test_a_redelivered_listing_event_redoes_only_its_own_page(monkeypatch):
    bucket = "mem://trigger-redeliver/"
    raw = open_storage(f"{bucket}uploads/r/raw/")
    for z in range(600):
        raw.write(f"img{z:05d}.png", b"not read by the trigger")
    config = {"id": "r", "source": raw.url, "maxz": 999, "dest": f"{bucket}jobs/r/", "stages": {"pyramid": {}}}
    open_storage(f"{bucket}uploads/r/").write("job.json", json.dumps(config).encode())
    queue = RecordingQueue()
    trigger.on_upload(bucket, "uploads/r/job.json", queue, Turn())
    (listing,) = queue.events
    ops = CountedOps(monkeypatch)
    trigger.on_arrivals(listing, queue, Turn())
    first = ops.total
    trigger.on_arrivals(listing, queue, Turn())          # delivered again
    print(f"\na page of {trigger.SECTIONS_PER_EVENT}: {first} operations, {ops.total - first} when delivered again")
    assert first <= BOUND_PER_EVENT and ops.total - first <= BOUND_PER_REDELIVERY
    marks = list(open_storage(config["dest"]).list(marker_prefix(ARRIVALS)))
    assert len(marks) == 2 * trigger.SECTIONS_PER_EVENT, "two pages recorded (the third is handed on), none twice"


def test_two_uploads_never_overwrite_each_other(tmp_path):
    bucket = "mem://trigger-two/"
    (tmp_path / "img00000.png").write_bytes(b"section a")

    def config(dest):
        return {"id": "same", "source": str(tmp_path), "maxz": 0, "dest": dest, "stages": {"pyramid": {}}}
    job = load_job(config(f"{bucket}jobs/a/"))
    url = upload_job(job, config(job.dest))
    assert upload_job(job, config(job.dest)) == url, "the same job again writes nothing"
    other = load_job(config(f"{bucket}jobs/b/"))
    assert upload_job(other, config(other.dest)) != url, "another dest, another folder"
    (tmp_path / "img00000.png").write_bytes(b"another section")      # same id and dest, other data
    with pytest.raises(JobConflict, match="raw/img00000.png holds another upload"):
        upload_job(job, config(job.dest))
    assert open_storage(url.rsplit("/", 1)[0] + "/").read("raw/img00000.png") == b"section a"


@pytest.mark.parametrize("config_first", [True, False])
def test_a_multi_page_stack_starts_its_job_when_the_file_arrives(tmp_path, config_first):
    """One file holds every section: uploaded once, and its arrival (before or after the config)
    starts the job, whose first task indexes the stack's pages."""
    import tifffile
    tifffile.imwrite(tmp_path / "stack.tif", np.full((5, 8, 8), 7, np.uint8), imagej=True)
    bucket = f"mem://trigger-stack-{config_first}/"
    config = {"id": "st", "source": str(tmp_path), "image": "stack.tif", "maxz": 4, "dest": f"{bucket}jobs/st/",
              "stages": {"pyramid": {}}}
    job = load_job(config)
    url = upload_job(job, config)
    inbox = open_storage(url.rsplit("/", 1)[0] + "/")
    assert list(inbox.list("raw/")) == ["raw/stack.tif"], "uploaded once"
    queue = RecordingQueue()
    order = ["job.json", "raw/stack.tif"] if config_first else ["raw/stack.tif", "job.json"]
    for key in order:
        trigger.on_upload(bucket, inbox.url[len(bucket):] + key, queue, Turn(5000))
    # Its first wave indexes the stack's pages (one task); render follows once that has run.
    waves = collections.Counter((m.wave_id, m.task) for m in queue.messages)
    assert waves == {("align.pages", 0): 1}
