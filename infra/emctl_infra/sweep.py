"""The periodic sweep (orchestrator/sweep.py): a Cloud Scheduler job that publishes
`{"kind": "sweep", "bucket": ..., "stall_seconds": ...}` to the orchestrator's events topic every
`emctl:sweepMinutes`. The orchestrator re-drives each registered job under the data bucket that
has had nothing written for `emctl:stallMinutes`: the recovery of last resort for an event lost
for good (dead-lettered, or never sent by a process that died). Cloud Scheduler publishes as its
service agent, which may publish to that one topic.
"""
from __future__ import annotations

import base64
import json

import pulumi
import pulumi_gcp as gcp

from emctl_infra.settings import Settings


def scheduler_agent(settings: Settings) -> pulumi.Output[str]:
    number = gcp.organizations.get_project_output(project_id=settings.project).number
    return number.apply(lambda num: f"serviceAccount:service-{num}@gcp-sa-cloudscheduler.iam.gserviceaccount.com")


def event(bucket_name: str, settings: Settings) -> str:
    body = {"kind": "sweep", "bucket": f"gs://{bucket_name}/", "stall_seconds": settings.stall_minutes * 60}
    return base64.b64encode(json.dumps(body, sort_keys=True).encode()).decode()


def create(settings: Settings, bucket: gcp.storage.Bucket, events: gcp.pubsub.Topic):
    allowed = gcp.pubsub.TopicIAMMember(
        "scheduler-agent-publishes-sweeps", project=settings.project, topic=events.name,
        role="roles/pubsub.publisher", member=scheduler_agent(settings))
    job = gcp.cloudscheduler.Job(
        "sweep",
        name=f"{settings.prefix}-sweep",
        project=settings.project,
        region=settings.region,
        description="emctl: re-drive stalled jobs (orchestrator/sweep.py)",
        schedule=f"*/{settings.sweep_minutes} * * * *",
        time_zone="Etc/UTC",
        pubsub_target={"topic_name": events.id, "data": bucket.name.apply(lambda name: event(name, settings)),
                       "attributes": {"kind": "sweep"}},
        opts=pulumi.ResourceOptions(depends_on=[allowed]),
    )
    return job, allowed
