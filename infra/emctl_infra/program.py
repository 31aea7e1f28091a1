"""The whole deployment: `build()` creates every resource and returns the stack outputs."""
from __future__ import annotations

from emcore import registry
from emcore.names import UPLOAD_PREFIX
from emcore.registry import ORCHESTRATOR
from emctl_infra import accounts as accounts_mod
from emctl_infra import bucket as bucket_mod
from emctl_infra import artifacts, gke, kube_access, messaging, services as services_mod, settings as settings_mod, sweep


def build(settings: settings_mod.Settings | None = None) -> dict:
    settings = settings or settings_mod.load()
    repo = artifacts.repository(settings)
    registry_url = artifacts.url(settings, repo)
    data = bucket_mod.data_bucket(settings)
    accounts = accounts_mod.create(settings)

    cluster = gpu_env = None
    if settings.gpu.enabled:
        cluster = gke.create(settings, accounts.gpu, accounts.nodes)
        kube_access.create(settings.prefix, cluster.cluster, cluster.namespace, cluster.kubernetes_account,
                           accounts.functions[ORCHESTRATOR], accounts.gpu)
        # The GPU Job launcher (seamless/kube.py) runs one image: the GPU job stage's.
        [gpu_stage] = registry.gpu_job_stages()
        gpu_image = registry_url.apply(lambda url: f"{url}/{gpu_stage}:{settings.image_tag}")
        gpu_env = cluster.orchestrator_env(settings, gpu_image)
    services = services_mod.create(settings, accounts, registry_url, gpu_env)

    topics = messaging.topics(settings)
    subs = messaging.subscriptions(settings, topics, services, accounts.invoker)
    messaging.service_agent_grants(settings, topics, subs, accounts.invoker)
    notification, _ = messaging.upload_notifications(settings, data, topics.events)
    sweeper, _ = sweep.create(settings, data, topics.events)

    accounts_mod.grant(settings, accounts, bucket=data, events_topic=topics.events, task_topics=topics.tasks,
                       services=services, gpu_subscriptions={s: subs.tasks[s] for s in registry.gpu_job_stages() if s in subs.tasks},
                       repository=repo,
                       cluster=cluster and cluster.cluster)

    bucket_url = data.name.apply(lambda name: f"gs://{name}/")
    outputs = {
        "project": settings.project,
        "region": settings.region,
        "prefix": settings.prefix,
        "bucket": data.name,
        "bucketUrl": bucket_url,
        "uploadUrl": data.name.apply(lambda name: f"gs://{name}/{UPLOAD_PREFIX}"),
        "registry": registry_url,
        "imageTag": settings.image_tag,
        "topics": {stage: topic.name for stage, topic in topics.tasks.items()},
        "deadLetterTopics": {stage: topic.name for stage, topic in topics.dead.items()},
        "eventsTopic": topics.events.name,
        "lastResortSubscription": subs.last_resort.name,
        "serviceUrls": {name: service.uri for name, service in services.items()},
        # what `emctl` needs to use this stack: export these, then give job.json a dest under bucketUrl
        "emctlEnv": {"EMCTL_PROJECT": settings.project, "EMCTL_PREFIX": settings.prefix},
        "destExample": bucket_url.apply(lambda url: f"{url}<job-id>/"),
        "sweepJob": sweeper.name,
    }
    if cluster is not None:
        outputs["gpuCluster"] = cluster.cluster.name
        outputs["gpuClusterLocation"] = settings.gpu_zone
        outputs["gpuNamespace"] = cluster.namespace
        outputs["gpuKubernetesServiceAccount"] = cluster.kubernetes_account
        outputs["gpuServiceAccount"] = accounts.gpu.email
    outputs["orchestratorUrl"] = services[ORCHESTRATOR].uri
    return outputs
