"""The data bucket: private (uniform bucket-level access, public access prevention enforced),
CORS for the Neuroglancer origins in the stack config, and lifecycle rules that delete a job's
temporary objects a few days after they were written.

TEMPORARY_PREFIXES is the one list of them (each relative to a job root; a test checks each
against the runtime module that writes it):
  tiles/          the rendered stack the pyramid reads (emcore/tiles.py)
  errors/         a failing attempt's error, read by the dead-letter handler (emcore/entry.py)
  cc/faces/ ...   the cc stage's per-chunk intermediates and partial merges (functions/cc/store.py)

Lifecycle conditions match object-name prefixes from the bucket root only, so a rule covers the job
roots named in `emctl:temporaryRoots` (default: the bucket root); see docs/deploy.md.
"""
from __future__ import annotations

import pulumi_gcp as gcp

from emctl_infra.settings import Settings

TEMPORARY_PREFIXES = ("tiles/", "errors/", "cc/faces/", "cc/stats/", "cc/partials/")

# What Neuroglancer needs to read precomputed volumes straight from the bucket: ranged GETs of shards.
CORS_METHODS = ["GET", "HEAD"]
CORS_RESPONSE_HEADERS = ["Content-Type", "Content-Length", "Content-Range", "Content-Encoding",
                         "Accept-Ranges", "Range", "ETag"]


def temporary_prefixes(settings: Settings) -> list[str]:
    roots = [r.strip("/") + "/" if r.strip("/") else "" for r in settings.temporary_roots]
    return [root + prefix for root in roots for prefix in TEMPORARY_PREFIXES]


def data_bucket(settings: Settings) -> gcp.storage.Bucket:
    rules = [
        {"action": {"type": "Delete"},
         "condition": {"age": settings.temporary_days, "matches_prefixes": temporary_prefixes(settings)}},
        # an interrupted multipart upload is invisible but billed
        {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": 1}},
    ]
    return gcp.storage.Bucket(
        "data",
        name=settings.bucket_name,
        project=settings.project,
        location=settings.region.upper(),
        storage_class="STANDARD",
        uniform_bucket_level_access=True,
        public_access_prevention="enforced",
        force_destroy=settings.force_destroy_bucket,
        # Deleted temporaries (tiles of a whole stack) would otherwise be billed for 7 more days.
        soft_delete_policy={"retention_duration_seconds": settings.soft_delete_days * 86400},
        cors=[{"origins": list(settings.cors_origins), "methods": CORS_METHODS,
               "response_headers": CORS_RESPONSE_HEADERS, "max_age_seconds": 3600}],
        lifecycle_rules=rules,
    )
