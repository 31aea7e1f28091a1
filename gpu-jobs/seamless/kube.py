"""The GKE batch Job that runs one wave of a GPU stage, and its creation by the orchestrator.

A GPU stage's tasks are published like any other (one Pub/Sub message each, to the stage's task
topic); instead of a push subscription to a Cloud Run service, a PULL subscription holds them,
and a batch/v1 Job of worker pods (worker.py) drains it. The Job is the Kubernetes work-queue
pattern: `parallelism` pods, no `completions`; each pod exits 0 once the subscription stays
empty, and the Job succeeds when its pods have. Completion of the *wave* is not the Job's
business: workers write markers and count them exactly as every other task does.

The pods ask for what the infra program's GPU node pool offers: `nvidia.com/gpu` (only for waves
that run a model), tolerations for GKE's `nvidia.com/gpu=present:NoSchedule` taint and for a
`cloud.google.com/gke-spot=true:NoSchedule` taint, and a node selector for spot nodes. A spot
preemption kills pods with the DisruptionTarget condition; the pod failure policy ignores those,
so preemptions do not count against `backoffLimit` (their tasks' leases lapse and are redelivered).
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

from emcore import registry
from emcore.names import Names, names

GPU = "nvidia.com/gpu"
SPOT = "cloud.google.com/gke-spot"
ACCELERATOR = "cloud.google.com/gke-accelerator"
LABEL = "emctl.io"


def pull_subscription(resource_names: Names, stage: str) -> str:
    """The subscription a GPU stage's workers drain. It has the name every stage's task
    subscription has (`Names.push_subscription`), but infra/ creates it without a push endpoint
    for a GPU stage (infra/emctl_infra/messaging.py): a PULL subscription, dead-lettered."""
    return resource_names.push_subscription(stage)


@dataclass(frozen=True)
class Settings:
    """Deployment facts, from the orchestrator's environment (infra/emctl_infra/gke.py sets the
    EMCTL_GPU_* variables)."""
    image: str                             # EMCTL_GPU_IMAGE: the image gpu-jobs/Dockerfile builds
    project: str                           # EMCTL_PROJECT
    namespace: str = "emctl"               # EMCTL_GPU_NAMESPACE (infra: the deployment prefix)
    service_account: str = "emctl-gpu"     # EMCTL_GPU_SERVICE_ACCOUNT: Kubernetes SA, workload identity
    max_pods: int = 4                      # EMCTL_GPU_MAX_PODS: the pool's nodes x GPUs per node
    spot: bool = True                      # EMCTL_GPU_SPOT: the pool runs spot VMs
    accelerator: str | None = None         # EMCTL_GPU_ACCELERATOR, e.g. nvidia-tesla-t4 (one pool: not needed)
    cpu: str = "3"                         # EMCTL_GPU_CPU, EMCTL_GPU_MEMORY: what an n1-standard-4 node
    memory: str = "10Gi"                   # can allocate to one pod beside GKE's own
    idle_seconds: int = 120                # quiet time before a pod whose waves are done exits
    max_idle_seconds: int = 900            # quiet time before any pod exits: above infra's 600 s max backoff

    @classmethod
    def from_env(cls) -> "Settings":
        from emcore.queues import project_id
        env = os.environ
        try:
            image = env["EMCTL_GPU_IMAGE"]
        except KeyError:
            raise RuntimeError("EMCTL_GPU_IMAGE is not set: the orchestrator cannot start GPU jobs") from None
        prefix = names().prefix
        return cls(image=image, project=project_id(), namespace=env.get("EMCTL_GPU_NAMESPACE", prefix),
                   service_account=env.get("EMCTL_GPU_SERVICE_ACCOUNT", names().gpu_account),
                   max_pods=int(env.get("EMCTL_GPU_MAX_PODS", 4)), spot=env.get("EMCTL_GPU_SPOT", "true") != "false",
                   accelerator=env.get("EMCTL_GPU_ACCELERATOR"), cpu=env.get("EMCTL_GPU_CPU", "3"),
                   memory=env.get("EMCTL_GPU_MEMORY", "10Gi"))


def needs_gpu(stage_options: dict, wave: str) -> bool:
    """Only the pairs wave with a model runs on the GPU; the others are light CPU work."""
    return wave == "pairs" and stage_options.get("estimator") == "onnx"


def _label(value: str) -> str:
    """A valid label value: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", value)[:63].strip("-._") or "x"


def _dns(value: str) -> str:
    """Lower-case letters, digits and '-': what object names may hold."""
    return re.sub(r"[^a-z0-9-]", "-", value.lower()).strip("-") or "x"


def root_label(root: str) -> str:
    return hashlib.sha1(root.encode()).hexdigest()[:16]


def job_manifest(job_id: str, root: str, stage: str, wave: str, tasks: int, gpu: bool, settings: Settings,
                 resource_names: Names) -> dict:
    """The batch/v1 Job (as `kubectl apply` takes it) running `wave` of the job at `root`."""
    labels = {f"{LABEL}/job": _label(job_id), f"{LABEL}/root": root_label(root), f"{LABEL}/stage": _label(stage),
              f"{LABEL}/wave": _label(wave)}
    limits = {GPU: "1"} if gpu else {}
    selector = {**({SPOT: "true"} if settings.spot else {}),
                **({ACCELERATOR: settings.accelerator} if gpu and settings.accelerator else {})}
    container = {
        "name": "worker",
        "image": settings.image,
        "command": ["python", "-m", "seamless", "worker",
                    "--subscription", pull_subscription(resource_names, stage),
                    "--idle", str(settings.idle_seconds), "--max-idle", str(settings.max_idle_seconds)],
        "env": [{"name": "EMCTL_PROJECT", "value": settings.project},
                {"name": "GOOGLE_CLOUD_PROJECT", "value": settings.project},
                {"name": "EMCTL_PREFIX", "value": resource_names.prefix}],
        "resources": {"requests": {"cpu": settings.cpu, "memory": settings.memory, **limits},
                      "limits": {"memory": settings.memory, **limits}},
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"generateName": f"{_dns(resource_names.prefix)}-{_dns(stage)}-{_dns(wave)}"[:57] + "-",
                     "namespace": settings.namespace, "labels": labels,
                     "annotations": {f"{LABEL}/root-url": root}},
        "spec": {
            "parallelism": max(1, min(settings.max_pods, tasks)),
            "backoffLimit": 6,
            "ttlSecondsAfterFinished": 3600,
            "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",                       # required by podFailurePolicy
                    "serviceAccountName": settings.service_account,
                    "terminationGracePeriodSeconds": 25,            # spot nodes get 30 s notice
                    "nodeSelector": selector,
                    "tolerations": [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"},
                                    {"key": SPOT, "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
                    "containers": [container],
                },
            },
        },
    }


def api_client():
    """A kubernetes ApiClient: in a pod, the cluster's own; on the orchestrator (Cloud Run), the
    GKE cluster EMCTL_GPU_CLUSTER in EMCTL_GPU_LOCATION, found through the GKE API and reached
    with the service's own Google credentials; elsewhere, the local kubeconfig."""
    from kubernetes import client, config
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()
        return client.ApiClient()
    cluster = os.environ.get("EMCTL_GPU_CLUSTER")
    if not cluster:
        config.load_kube_config()
        return client.ApiClient()
    import base64
    import tempfile
    import google.auth
    from google.auth.transport.requests import AuthorizedSession
    from emcore.queues import project_id
    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    session = AuthorizedSession(credentials)        # refreshes the token it sends
    location = os.environ["EMCTL_GPU_LOCATION"]
    response = session.get(f"https://container.googleapis.com/v1/projects/{project_id()}/locations/"
                           f"{location}/clusters/{cluster}", timeout=30)
    response.raise_for_status()
    info = response.json()
    with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as f:
        f.write(base64.b64decode(info["masterAuth"]["clusterCaCertificate"]))
    configuration = client.Configuration()
    configuration.host = f"https://{info['endpoint']}"
    configuration.ssl_ca_cert = f.name
    # A token lasts an hour: the orchestrator makes a client per launch, never keeps one.
    configuration.api_key = {"authorization": credentials.token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    return client.ApiClient(configuration)


def _finished(job) -> bool:
    return any(c.type in ("Complete", "Failed") and c.status == "True" for c in (job.status.conditions or [])) \
        if job.status else False


def launch_wave(job_id: str, root: str, stage: str, wave: str, tasks: int, gpu: bool,
                settings: Settings | None = None, api=None, resource_names: Names | None = None) -> str:
    """Make sure a Job is draining this wave with up to `tasks` more pods: create one, or, when
    one is still running for the wave (published in several batches, or resumed), raise its
    parallelism. Returns the Job's name."""
    from kubernetes import client
    from kubernetes.client import V1Job
    settings = settings or Settings.from_env()
    resource_names = resource_names or names()
    batch = client.BatchV1Api(api or api_client())
    selector = f"{LABEL}/root={root_label(root)},{LABEL}/stage={_label(stage)},{LABEL}/wave={_label(wave)}"
    running = [j for j in batch.list_namespaced_job(settings.namespace, label_selector=selector).items if not _finished(j)]
    if running:
        current = running[0]
        want = min(settings.max_pods, (current.spec.parallelism or 0) + tasks)
        if want > (current.spec.parallelism or 0):
            batch.patch_namespaced_job(current.metadata.name, settings.namespace, {"spec": {"parallelism": want}})
        return current.metadata.name
    manifest = job_manifest(job_id, root, stage, wave, tasks, gpu, settings, resource_names)
    # The client's models check the manifest against the batch/v1 schema (types, required
    # fields) before anything is sent.
    return batch.create_namespaced_job(settings.namespace, V1Job.from_dict(manifest)).metadata.name


class LaunchingQueue:
    """The orchestrator's cloud queue, plus GPU jobs: for messages of a GPU stage, first makes
    sure a Job drains their wave (`launch_wave`), then publishes exactly as the queue it wraps.
    A launch that fails raises before anything is published, so the batch is not recorded as
    published (orchestrator/fanout.py) and the event's redelivery launches and publishes it again."""

    def __init__(self, inner, launch=launch_wave):
        self.inner = inner
        self.launch = launch

    def publish(self, messages) -> None:
        waves: dict[tuple, int] = {}
        for m in messages:
            if m.stage in registry.gpu_job_stages():
                key = (m.job, m.root, m.stage, m.wave)
                waves[key] = waves.get(key, 0) + 1
        for (job_id, root, stage, wave), count in waves.items():
            self.launch(job_id, root, stage, wave, count, needs_gpu(_stage_options(root, stage), wave))
        self.inner.publish(messages)

    def publish_event(self, event: dict) -> None:
        self.inner.publish_event(event)


def _stage_options(root: str, stage: str) -> dict:
    from emcore.jobroot import stage_options
    from emcore.storage import open_storage
    return stage_options(open_storage(root), stage) or {}
