"""What `emctl start` does for a cloud destination: upload the config (and, for a local source,
the sections) under the destination bucket's upload prefix, where the bucket's own notifications
start the job exactly as for a user's upload (orchestrator/trigger.py).

Two jobs never share an upload folder, and nothing there is overwritten: the folder is named by
the job's id and a digest of its dest (`uploads/<id>-<8 hex>/`), so two jobs with one id and
different dests upload apart; every object is written create-only, so a second job with the same
id and dest but another config or other sections is refused, naming what differs, while starting
the same job again finds its uploads in place and writes nothing.
"""
from __future__ import annotations

import hashlib
import json

from emcore.job import Job
from emcore.names import UPLOAD_PREFIX
from emcore.storage import Storage, bucket_url, is_local, open_storage
from orchestrator.engine import JobConflict, conflict


def inbox_name(job: Job) -> str:
    return f"{job.id}-{hashlib.sha256(job.dest.encode()).hexdigest()[:8]}"



def _put(inbox: Storage, key: str, data: bytes) -> bool:
    """Create `key` with `data`; False if it holds those bytes already; JobConflict if not."""
    if inbox.create(key, data):
        return True
    if inbox.read(key) != data:
        raise JobConflict(f"{inbox.url}{key} holds another upload (a job with the same id and dest); "
                          "nothing was overwritten: delete that upload first, or use another id")
    return False


def upload_job(job: Job, raw_config: dict) -> str:
    """Upload the job; returns the URL of its config in the upload folder."""
    problem = conflict(open_storage(job.dest), job)
    if problem:
        raise JobConflict(problem)
    inbox = open_storage(f"{bucket_url(job.dest)}{UPLOAD_PREFIX}{inbox_name(job)}/")
    config = dict(raw_config)
    if job.source and is_local(job.source):
        local = open_storage(job.source)
        # A multi-page stack is one file for every section: uploaded once.
        for name in dict.fromkeys(job.section_name(z) for z in job.z_range):
            _put(inbox, f"raw/{name}", local.read(name))
        config["source"] = inbox.url + "raw/"
    # The config last: its event lists the sections once, instead of each section's event
    # finding no config yet.
    _put(inbox, "job.json", json.dumps(config, indent=2, sort_keys=True).encode())
    return inbox.url + "job.json"
