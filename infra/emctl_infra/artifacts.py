"""The Artifact Registry repository the function images are pushed to (`make images
REGISTRY=<its url> PUSH=1`). Old images are cleaned up so the repository's storage stays small."""
from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from emctl_infra.settings import Settings

KEEP_RECENT_VERSIONS = 10
DELETE_AFTER = "2592000s"        # 30 days; the KEEP rule protects the 10 newest versions of each image
DELETE_UNTAGGED_AFTER = "604800s"  # 7 days


def repository(settings: Settings) -> gcp.artifactregistry.Repository:
    return gcp.artifactregistry.Repository(
        "registry",
        project=settings.project,
        location=settings.region,
        repository_id=settings.repository_id,
        format="DOCKER",
        description="emctl function images (docker/build-images.sh)",
        cleanup_policy_dry_run=False,
        cleanup_policies=[
            {"id": "keep-recent", "action": "KEEP",
             "most_recent_versions": {"keep_count": KEEP_RECENT_VERSIONS}},
            {"id": "delete-untagged", "action": "DELETE",
             "condition": {"tag_state": "UNTAGGED", "older_than": DELETE_UNTAGGED_AFTER}},
            {"id": "delete-old", "action": "DELETE",
             "condition": {"tag_state": "ANY", "older_than": DELETE_AFTER}},
        ],
    )


def url(settings: Settings, repo: gcp.artifactregistry.Repository) -> pulumi.Output[str]:
    """The REGISTRY to build and push to: the configured one, else this repository's."""
    return repo.repository_id.apply(lambda _: settings.registry_url)   # once the repository exists
