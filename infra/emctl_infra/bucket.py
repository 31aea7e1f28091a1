"""The data bucket: private (uniform bucket-level access, public access prevention enforced),
CORS for the Neuroglancer origins in the stack config, and a lifecycle rule that deletes
temporary objects a few days after they were written.

The rule selects objects by their custom time, which the runtime sets on temporaries only
(`Storage.write(..., temporary=True)`: the rendered tiles unless `keep_tiles`, a failing
attempt's error record) and on nothing else. So the rule can never touch an output, whatever a
job's dest (a dest below a prefix named `tiles/` included), and an object without a custom time
never matches `days_since_custom_time`. A job that completes deletes its temporaries itself (its
tidy waves); the rule is for jobs that do not.
"""
from __future__ import annotations

import pulumi_gcp as gcp

from emctl_infra.settings import Settings

# What Neuroglancer needs to read precomputed volumes straight from the bucket: ranged GETs of shards.
CORS_METHODS = ["GET", "HEAD"]
CORS_RESPONSE_HEADERS = ["Content-Type", "Content-Length", "Content-Range", "Content-Encoding",
                         "Accept-Ranges", "Range", "ETag"]


def data_bucket(settings: Settings) -> gcp.storage.Bucket:
    rules = [
        {"action": {"type": "Delete"},
         "condition": {"days_since_custom_time": settings.temporary_days}},
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
