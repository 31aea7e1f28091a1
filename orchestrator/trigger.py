"""Starting a job from uploads: a job starts when its `job.json` and every section it names are
in the bucket, whatever order they arrive in, at O(N) storage operations for N uploads.

Uploads go under `uploads/<job-id>/` (`emcore.names.UPLOAD_PREFIX`): `job.json` there, sections
anywhere the job's `source` says. Each arrival is recorded as a create-only marker of a pseudo-wave
(`upload.sections`, one task per section) and counted with the same hierarchical counting as any
wave; the event that completes it submits the job and starts its first wave. A section's event
reads the job's config (one read) and records itself; the config's own event lists the source once
and records every section already there, so arrivals before the config are not lost.
"""
from __future__ import annotations

import json
import re
import time

from emcore import counting
from emcore.job import Job
from emcore.names import UPLOAD_PREFIX
from emcore.protocol import dumps, marker_key, plan_key
from emcore.schema import ConfigError
from emcore.storage import NotFound, Storage, open_storage
from orchestrator import engine
from orchestrator.registry import load_job_text

ARRIVALS = "upload.sections"
CONFIG_ERROR = "job.error.txt"


def _pattern_regex(pattern: str) -> re.Pattern:
    parts = re.split(r"%0?\d*d", pattern)
    return re.compile(r"(\d+)".join(re.escape(p) for p in parts) + r"$")


def section_index(job: Job, url: str) -> int | None:
    source = job.source or ""
    if not url.startswith(source):
        return None
    match = _pattern_regex(job.config["image"]).match(url[len(source):])
    if not match or job.section_name(int(match.group(1))) != url[len(source):]:
        return None
    z = int(match.group(1))
    return z if z in job.z_range else None


def _record(job: Job, dest: Storage, z: int, queue) -> None:
    task = z - job.z_range.start
    dest.create(marker_key(ARRIVALS, task), b"")
    if counting.record_done(dest, ARRIVALS, len(job.z_range), task, dumps({"time": time.time()})):
        engine.submit_job(dest, job)
        engine.advance(job, dest, queue)


def _ensure_arrivals_plan(job: Job, dest: Storage) -> None:
    dest.write(plan_key(ARRIVALS), dumps({"stage": "upload", "wave": "sections", "count": len(job.z_range), "tasks": []}))


def on_upload(bucket_url: str, key: str, queue) -> str:
    """Handle one object-finalize event; returns what was done, for logs."""
    if not key.startswith(UPLOAD_PREFIX):
        return "ignored: not an upload"
    job_id, _, name = key[len(UPLOAD_PREFIX):].partition("/")
    inbox = open_storage(f"{bucket_url}{UPLOAD_PREFIX}{job_id}/")
    if name == CONFIG_ERROR:
        return "ignored: our own report"
    try:
        job = load_job_text(inbox.read("job.json").decode(), origin=f"{inbox.url}job.json")
    except NotFound:
        return "waiting for job.json"
    except ConfigError as e:
        if name == "job.json":
            inbox.write(CONFIG_ERROR, f"{e}\n".encode())
        return f"invalid job.json: {e}"
    dest = open_storage(job.dest)
    if name == "job.json":
        return _on_config(job, dest, queue)
    z = section_index(job, bucket_url + key)
    if z is None:
        return "ignored: not a section of the job"
    _ensure_arrivals_plan(job, dest)
    _record(job, dest, z, queue)
    return f"section {z} arrived"


def _on_config(job: Job, dest: Storage, queue) -> str:
    _ensure_arrivals_plan(job, dest)
    source = open_storage(job.source) if job.source else None
    if source is None:
        engine.submit_job(dest, job)
        engine.advance(job, dest, queue)
        return "started (no sections to wait for)"
    present = 0
    for key in source.list(""):
        z = section_index(job, source.url + key)
        if z is not None:
            present += 1
            _record(job, dest, z, queue)
    return f"config arrived; {present} of {len(job.z_range)} sections present"


def upload_job(job: Job, raw_config: dict) -> str:
    """What `emctl start` does for a cloud destination: upload the config (and, for a local
    source, the sections) under the destination bucket's upload prefix. The bucket's own
    notifications then start the job, exactly as for a user's upload."""
    dest_bucket = job.dest.split("/", 3)
    bucket_url = f"{dest_bucket[0]}//{dest_bucket[2]}/"
    inbox = open_storage(f"{bucket_url}{UPLOAD_PREFIX}{job.id}/")
    config = dict(raw_config)
    from emcore.storage import is_local
    if job.source and is_local(job.source):
        local = open_storage(job.source)
        for z in job.z_range:
            name = job.section_name(z)
            inbox.write(f"raw/{name}", local.read(name))
        config["source"] = inbox.url + "raw/"
    inbox.write("job.json", json.dumps(config, indent=2).encode())
    return inbox.url + "job.json"
