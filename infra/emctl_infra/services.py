"""A Cloud Run service per function: the image `make images` pushed, sized from profiles.PROFILES,
scaling from zero to `emctl:maxInstances`, running as the function's own service account.

None is publicly invokable: ingress is internal by default (Pub/Sub push in the same project is
internal traffic), the IAM invoker check stays on, and the only principal allowed to invoke is the
push invoker account (accounts.grant). No binding to allUsers or allAuthenticatedUsers exists.
"""
from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from emcore.registry import ORCHESTRATOR
from emctl_infra.profiles import FUNCTIONS, PROFILES
from emctl_infra.settings import Settings


def environment(settings: Settings, function: str, gpu: dict | None) -> dict[str, str]:
    # THREADS: functions-framework's gunicorn threads (default 4 per CPU), matched to the requests
    # Cloud Run sends one instance at once.
    env = {"EMCTL_PROJECT": settings.project, "EMCTL_PREFIX": settings.prefix,
           "THREADS": str(PROFILES[function].concurrency)}
    if function == ORCHESTRATOR and gpu:
        env.update(gpu)   # where the orchestrator creates the GPU stage's Jobs
    return env


def service(settings: Settings, function: str, account: gcp.serviceaccount.Account, image: pulumi.Input[str],
            gpu_env: dict | None = None) -> gcp.cloudrunv2.Service:
    profile = PROFILES[function]
    name = settings.names.service(function)
    return gcp.cloudrunv2.Service(
        name,
        name=name,
        project=settings.project,
        location=settings.region,
        ingress=settings.ingress,
        invoker_iam_disabled=False,
        deletion_protection=False,
        template={
            "service_account": account.email,
            "timeout": profile.timeout,
            "max_instance_request_concurrency": profile.concurrency,
            "scaling": {"min_instance_count": 0, "max_instance_count": int(settings.max_instances[function])},
            "containers": [{
                "image": image,
                "resources": {"limits": {"cpu": profile.cpu, "memory": profile.memory},
                              "cpu_idle": True, "startup_cpu_boost": True},
                "envs": [{"name": k, "value": v} for k, v in environment(settings, function, gpu_env).items()],
            }],
        },
    )


def create(settings: Settings, accounts, registry_url: pulumi.Output[str], gpu_env: dict | None = None
           ) -> dict[str, gcp.cloudrunv2.Service]:
    images = {f: registry_url.apply(lambda url, f=f: f"{url}/{f}:{settings.image_tag}") for f in FUNCTIONS}
    return {f: service(settings, f, accounts.functions[f], images[f], gpu_env) for f in FUNCTIONS}
