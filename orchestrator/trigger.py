"""Starting a job from uploads: a job starts when its `job.json` and every section it names are
in the bucket, whatever order they arrive in, at O(N) storage operations for N uploads and a
bounded number per event.

Uploads go under `uploads/<name>/` (`emcore.names.UPLOAD_PREFIX`): `job.json` there, sections
anywhere the job's `source` says. Each arrival is recorded as a create-only marker of a pseudo-wave
(`upload.sections`, one task per section) and counted with the same hierarchical counting as any
wave; the event that completes it submits the job and starts its first wave.

* A section's event reads the job's config (one read) and records itself (about two operations).
* The config's event records the sections already there, so arrivals before the config are not
  lost: one page of SECTIONS_PER_EVENT names of the source's listing, then it hands the listing's
  next page token on in an `arrivals` event to the orchestrator itself. Each event's work is
  bounded whatever the stack's size, and a redelivered event redoes only its own page (recording
  is idempotent).
"""
from __future__ import annotations

import re
import time

from emcore import counting
from emcore.job import Job
from emcore.job import load_job_text
from emcore.jobroot import dumps, marker_key
from emcore.names import UPLOAD_PREFIX
from emcore.schema import ConfigError
from emcore.storage import NotFound, Storage, open_storage
from orchestrator import engine, sweep
from orchestrator.fanout import Turn

ARRIVALS = "upload.sections"
CONFIG_ERROR = "job.error.txt"
SECTIONS_PER_EVENT = 250


def _pattern_regex(pattern: str) -> re.Pattern:
    parts = re.split(r"%0?\d*d", pattern)
    return re.compile(r"(\d+)".join(re.escape(p) for p in parts) + r"$")


def section_index(job: Job, url: str) -> int | None:
    source = job.source or ""
    if not url.startswith(source):
        return None
    match = _pattern_regex(job.config["image"]).match(url[len(source):])
    if not match or len(match.group(1)) > 12 or job.section_name(int(match.group(1))) != url[len(source):]:
        return None
    z = int(match.group(1))
    return z if z in job.z_range else None


def is_stack_file(job: Job, url: str) -> bool:
    """`url` is the multi-page TIFF holding every section of the job: its arrival starts it."""
    first = job.z_range.start
    return job.section_page(first) is not None and url == (job.source or "") + job.section_name(first)


def _start(job: Job, dest: Storage, queue, turn: Turn) -> None:
    engine.submit_job(dest, job)
    pending = engine.advance(job, dest, queue, turn=turn)
    if pending is not None:
        queue.publish_event(pending.event())


def _record(job: Job, dest: Storage, z: int, queue, turn: Turn) -> None:
    task = z - job.z_range.start
    dest.create(marker_key(ARRIVALS, task), b"")
    # A repeated count of a complete pseudo-wave (a redelivery) starts the job again: submitting
    # the same job is a no-op and advancing carries on whatever the first start left undone.
    if counting.record_done(dest, ARRIVALS, len(job.z_range), task, dumps({"time": time.time()})).complete:
        _start(job, dest, queue, turn)


def read_config(inbox: Storage, report: bool) -> Job | str:
    """The inbox's job, or why there is none (for logs); an invalid config is reported beside it
    when `report` (its own event), so the user sees why nothing starts."""
    try:
        return load_job_text(inbox.read("job.json").decode(), origin=f"{inbox.url}job.json")
    except NotFound:
        return "waiting for job.json"
    except (ConfigError, UnicodeDecodeError) as e:
        if report:
            inbox.write(CONFIG_ERROR, f"{e}\n".encode())
        return f"invalid job.json: {e}"


def on_upload(bucket_url: str, key: str, queue, turn: Turn) -> str:
    """Handle one object-finalize event; returns what was done, for logs."""
    if not key.startswith(UPLOAD_PREFIX):
        return "ignored: not an upload"
    name, _, rest = key[len(UPLOAD_PREFIX):].partition("/")
    if rest == CONFIG_ERROR or not name:
        return "ignored: our own report"
    inbox = open_storage(f"{bucket_url}{UPLOAD_PREFIX}{name}/")
    job = read_config(inbox, report=rest == "job.json")
    if isinstance(job, str):
        return job
    dest = open_storage(job.dest)
    if rest == "job.json":
        sweep.register(job.dest, inbox.url)
        return record_listed(job, inbox, dest, None, queue, turn)
    if is_stack_file(job, bucket_url + key):
        _start(job, dest, queue, turn)
        return "stack arrived"
    z = section_index(job, bucket_url + key)
    if z is None:
        return "ignored: not a section of the job"
    _record(job, dest, z, queue, turn)
    return f"section {z} arrived"


def on_arrivals(event: dict, queue, turn: Turn) -> str:
    """An `arrivals` continuation: the next page of the config's listing."""
    inbox = open_storage(event["inbox"])
    job = read_config(inbox, report=False)
    if isinstance(job, str) or job.generation != event["generation"]:
        return "ignored: the config this listing was for has changed (its own event lists again)"
    return record_listed(job, inbox, open_storage(job.dest), event["token"], queue, turn)


def record_listed(job: Job, inbox: Storage, dest: Storage, token: str | None, queue, turn: Turn) -> str:
    """Record one page of the sections already in the source; hand the rest on."""
    if job.source is None:
        _start(job, dest, queue, turn)
        return "started (no sections to wait for)"
    source = open_storage(job.source)
    page, token = source.list_page("", token, SECTIONS_PER_EVENT)
    present = 0
    for key, _ in page:
        if is_stack_file(job, source.url + key):
            _start(job, dest, queue, turn)
            return "config: the stack is there; started"
        z = section_index(job, source.url + key)
        if z is not None:
            present += 1
            _record(job, dest, z, queue, turn)
    if token is not None:
        queue.publish_event({"kind": "arrivals", "inbox": inbox.url, "generation": job.generation, "token": token})
    return f"config: {present} sections of this page recorded" + ("; listing continues" if token else "")
