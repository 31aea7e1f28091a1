"""One service account per function, plus the push invoker, the GPU jobs' account and the GPU
nodes' account, and every role any of them holds. `grant()` is the whole list; docs/deploy.md's
table states the same, and a test checks one against the other.

Nothing here is granted on the project except what has no narrower scope (finding the GKE
cluster, the node account's logging and monitoring): object access is on the data bucket,
publishing on the topics each account publishes to, invoking on each service. Creating the GPU
stage's Jobs is a Kubernetes right in one namespace (kube_access.py), not a project role.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from emcore import registry
from emcore.registry import ORCHESTRATOR
from emctl_infra.settings import Settings

OBJECTS = "roles/storage.objectUser"      # read, write, list, delete objects; nothing on the bucket itself
PUBLISHER = "roles/pubsub.publisher"
SUBSCRIBER = "roles/pubsub.subscriber"
INVOKER = "roles/run.invoker"
CLUSTER_VIEWER = "roles/container.clusterViewer"   # find the GPU cluster and connect: no Kubernetes object
WORKLOAD_IDENTITY = "roles/iam.workloadIdentityUser"
NODE = "roles/container.defaultNodeServiceAccount"
IMAGE_READER = "roles/artifactregistry.reader"


def member(account: gcp.serviceaccount.Account) -> pulumi.Output[str]:
    return account.email.apply(lambda email: f"serviceAccount:{email}")


@dataclass
class Accounts:
    functions: dict[str, gcp.serviceaccount.Account]      # stage or "orchestrator" -> account
    invoker: gcp.serviceaccount.Account
    gpu: gcp.serviceaccount.Account | None
    nodes: gcp.serviceaccount.Account | None
    grants: list[pulumi.CustomResource] = field(default_factory=list)


def _account(settings: Settings, account_id: str, description: str) -> gcp.serviceaccount.Account:
    return gcp.serviceaccount.Account(account_id, account_id=account_id, project=settings.project,
                                      display_name=description[:100], description=description)


def create(settings: Settings) -> Accounts:
    n = settings.names
    functions = {stage: _account(settings, n.service_account(stage), f"emctl {stage} stage function")
                 for stage in registry.function_stages()}
    functions[ORCHESTRATOR] = _account(settings, n.service_account(ORCHESTRATOR), "emctl orchestrator")
    invoker = _account(settings, n.invoker_account, "emctl: Pub/Sub push deliveries to the functions")
    gpu = nodes = None
    if settings.gpu.enabled:
        gpu = _account(settings, n.gpu_account, "emctl GPU jobs (GKE workload identity)")
        nodes = _account(settings, n.service_account("gke-nodes"), "emctl GPU cluster nodes")
    return Accounts(functions, invoker, gpu, nodes)


def grant(settings: Settings, accounts: Accounts, *, bucket, events_topic, task_topics: dict,
          services: dict, gpu_subscriptions: dict, repository=None, cluster=None) -> list:
    """Every role of every account of ours (the service agents' grants are in messaging.py)."""
    out = accounts.grants
    project = settings.project

    def on_bucket(label, account):
        out.append(gcp.storage.BucketIAMMember(f"{label}-objects", bucket=bucket.name, role=OBJECTS,
                                               member=member(account)))

    def on_topic(label, account, topic, role=PUBLISHER):
        out.append(gcp.pubsub.TopicIAMMember(label, project=project, topic=topic.name, role=role,
                                             member=member(account)))

    # stage functions: their objects, and the one wave_done event to the orchestrator
    for stage in registry.function_stages():
        sa = accounts.functions[stage]
        on_bucket(stage, sa)
        on_topic(f"{stage}-publishes-events", sa, events_topic)

    # orchestrator: objects (job roots, uploads), publishing every stage's tasks, the GPU cluster
    orchestrator = accounts.functions[ORCHESTRATOR]
    on_bucket(ORCHESTRATOR, orchestrator)
    for stage, topic in task_topics.items():
        on_topic(f"{ORCHESTRATOR}-publishes-{stage}", orchestrator, topic)
    if cluster is not None:
        out.append(gcp.projects.IAMMember(f"{ORCHESTRATOR}-finds-the-gpu-cluster", project=project,
                                          role=CLUSTER_VIEWER, member=member(orchestrator)))

    # invoker: the identity of every push delivery, allowed to call exactly the services pushed to
    for name, service in services.items():
        out.append(gcp.cloudrunv2.ServiceIamMember(f"invoker-runs-{name}", project=project,
                                                   location=service.location, name=service.name,
                                                   role=INVOKER, member=member(accounts.invoker)))

    if accounts.gpu is not None:
        on_bucket("gpu", accounts.gpu)
        on_topic("gpu-publishes-events", accounts.gpu, events_topic)
        for stage, subscription in gpu_subscriptions.items():
            out.append(gcp.pubsub.SubscriptionIAMMember(f"gpu-pulls-{stage}", project=project,
                                                        subscription=subscription.name, role=SUBSCRIBER,
                                                        member=member(accounts.gpu)))
    if accounts.nodes is not None:
        out.append(gcp.projects.IAMMember("gke-nodes-default", project=project, role=NODE,
                                          member=member(accounts.nodes)))
        out.append(gcp.artifactregistry.RepositoryIamMember(
            "gke-nodes-pull-images", project=project, location=repository.location,
            repository=repository.name, role=IMAGE_READER, member=member(accounts.nodes)))
    return out
