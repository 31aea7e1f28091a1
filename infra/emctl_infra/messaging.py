"""Pub/Sub, mirroring tests/cloud_gcp.py (the emulated deployment) with the real service's
security: every name from emcore.names.

  <stage> tasks   topic emctl-S-tasks -> push subscription emctl-S-push -> service emctl-S
                  (seamless, the GPU stage: a pull subscription its GKE Jobs read)
  dead letters    after max_delivery_attempts: topic emctl-S-dead -> push emctl-S-dead-push -> orchestrator
  orchestrator    topic emctl-events (bucket notifications for uploads/, wave_done) -> emctl-events-push
  last resort     what the orchestrator itself failed to handle max_delivery_attempts times (an event,
                  a dead letter it could not record) goes to emctl-orchestrator-dead, kept 7 days in a
                  pull subscription for a person to read: nothing recirculates forever.

Every push carries an OIDC token of the invoker account, audience the service's URL. No
subscription expires when idle (Pub/Sub's default would delete it after 31 quiet days).
The Pub/Sub service agent may publish to the dead-letter topics and subscribe to the source
subscriptions (required for dead-lettering) and mint the invoker's tokens; the Cloud Storage service
agent may publish the bucket's notifications to the events topic.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from emcore import registry
from emcore.names import UPLOAD_PREFIX
from emcore.registry import ORCHESTRATOR
from emctl_infra.profiles import PROFILES
from emctl_infra.settings import Settings

RETENTION = "604800s"   # 7 days, Pub/Sub's maximum for unacknowledged messages
NEVER_EXPIRE = {"ttl": ""}


def task_stages(settings: Settings) -> tuple[str, ...]:
    return registry.function_stages() + (registry.gpu_job_stages() if settings.gpu.enabled else ())


@dataclass
class Topics:
    tasks: dict[str, gcp.pubsub.Topic]
    dead: dict[str, gcp.pubsub.Topic]
    events: gcp.pubsub.Topic
    last_resort: gcp.pubsub.Topic


@dataclass
class Subscriptions:
    tasks: dict[str, gcp.pubsub.Subscription]   # push to the stage's service; pull for the GPU stage
    dead: dict[str, gcp.pubsub.Subscription]    # push to the orchestrator
    events: gcp.pubsub.Subscription
    last_resort: gcp.pubsub.Subscription
    grants: list = field(default_factory=list)


def _topic(settings: Settings, name: str) -> gcp.pubsub.Topic:
    return gcp.pubsub.Topic(name, name=name, project=settings.project)


def topics(settings: Settings) -> Topics:
    n = settings.names
    stages = task_stages(settings)
    return Topics(
        tasks={s: _topic(settings, n.task_topic(s)) for s in stages},
        dead={s: _topic(settings, n.dead_letter_topic(s)) for s in stages},
        events=_topic(settings, n.events_topic),
        last_resort=_topic(settings, n.dead_letter_topic(ORCHESTRATOR)),
    )


def _push(service: gcp.cloudrunv2.Service, invoker: gcp.serviceaccount.Account) -> dict:
    return {"push_endpoint": service.uri,
            "oidc_token": {"service_account_email": invoker.email, "audience": service.uri}}


def _subscription(settings: Settings, name: str, topic, ack_seconds: int, push: dict | None,
                  dead_letter_topic) -> gcp.pubsub.Subscription:
    extra = {}
    if dead_letter_topic is not None:
        extra["dead_letter_policy"] = {"dead_letter_topic": dead_letter_topic.id,
                                       "max_delivery_attempts": settings.max_delivery_attempts}
    return gcp.pubsub.Subscription(
        name, name=name, project=settings.project, topic=topic.id,
        ack_deadline_seconds=ack_seconds,
        push_config=push,
        retry_policy={"minimum_backoff": f"{settings.min_backoff_seconds}s",
                      "maximum_backoff": f"{settings.max_backoff_seconds}s"},
        message_retention_duration=RETENTION,
        expiration_policy=NEVER_EXPIRE,
        **extra)


def subscriptions(settings: Settings, t: Topics, services: dict, invoker) -> Subscriptions:
    n = settings.names
    orchestrator = _push(services[ORCHESTRATOR], invoker)
    orchestrator_ack = PROFILES[ORCHESTRATOR].ack_deadline_seconds
    tasks = {}
    for stage in t.tasks:
        push = _push(services[stage], invoker) if stage in services else None   # GPU stage: pulled
        tasks[stage] = _subscription(settings, n.push_subscription(stage), t.tasks[stage],
                                     PROFILES[stage].ack_deadline_seconds, push, t.dead[stage])
    dead = {stage: _subscription(settings, n.dead_letter_subscription(stage), t.dead[stage],
                                 orchestrator_ack, orchestrator, t.last_resort)
            for stage in t.dead}
    events = _subscription(settings, n.events_subscription, t.events, orchestrator_ack, orchestrator,
                           t.last_resort)
    # Terminal: read by a person (gcloud pubsub subscriptions pull); no push, so no redelivery loop.
    last_resort = _subscription(settings, n.dead_letter_topic(ORCHESTRATOR), t.last_resort, 60, None, None)
    return Subscriptions(tasks, dead, events, last_resort)


def pubsub_agent(settings: Settings) -> pulumi.Output[str]:
    number = gcp.organizations.get_project_output(project_id=settings.project).number
    return number.apply(lambda num: f"serviceAccount:service-{num}@gcp-sa-pubsub.iam.gserviceaccount.com")


def service_agent_grants(settings: Settings, t: Topics, subs: Subscriptions, invoker) -> list:
    """What the Pub/Sub service agent needs to dead-letter and to sign push tokens."""
    agent = pubsub_agent(settings)
    n = settings.names
    out = subs.grants
    dead_topics = {n.dead_letter_topic(s): topic for s, topic in t.dead.items()}
    dead_topics[n.dead_letter_topic(ORCHESTRATOR)] = t.last_resort
    for name, topic in dead_topics.items():
        out.append(gcp.pubsub.TopicIAMMember(
            f"pubsub-agent-publishes-{name}", project=settings.project, topic=topic.name,
            role="roles/pubsub.publisher", member=agent))
    sources = {n.push_subscription(s): sub for s, sub in subs.tasks.items()}
    sources.update({n.dead_letter_subscription(s): sub for s, sub in subs.dead.items()})
    sources[n.events_subscription] = subs.events
    for name, sub in sources.items():
        out.append(gcp.pubsub.SubscriptionIAMMember(
            f"pubsub-agent-subscribes-{name}", project=settings.project, subscription=sub.name,
            role="roles/pubsub.subscriber", member=agent))
    out.append(gcp.serviceaccount.IAMMember(
        "pubsub-agent-signs-invoker-tokens", service_account_id=invoker.name,
        role="roles/iam.serviceAccountTokenCreator", member=agent))
    return out


def upload_notifications(settings: Settings, bucket: gcp.storage.Bucket, events: gcp.pubsub.Topic):
    """Object-finalize events under UPLOAD_PREFIX to the orchestrator's topic (orchestrator/trigger.py)."""
    agent = gcp.storage.get_project_service_account_output(project=settings.project).email_address
    allowed = gcp.pubsub.TopicIAMMember(
        "storage-agent-publishes-events", project=settings.project, topic=events.name,
        role="roles/pubsub.publisher", member=agent.apply(lambda email: f"serviceAccount:{email}"))
    notification = gcp.storage.Notification(
        "uploads", bucket=bucket.name, topic=events.id, payload_format="JSON_API_V1",
        event_types=["OBJECT_FINALIZE"], object_name_prefix=UPLOAD_PREFIX,
        opts=pulumi.ResourceOptions(depends_on=[allowed]))
    return notification, allowed
