"""The stack's configuration (`pulumi config`, namespace `emctl`), every key with its default here
and nowhere else. `Pulumi.dev.yaml.example` shows them all; docs/deploy.md explains them."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Callable

import pulumi

from emcore.names import Names
from emctl_infra.profiles import FUNCTIONS, PROFILES

DEFAULT_REGION = "us-central1"
DEFAULT_MAX_INSTANCES = {f: PROFILES[f].max_instances for f in FUNCTIONS}
# Neuroglancer's public client; `emctl view` serves its own client and needs no CORS.
DEFAULT_CORS_ORIGINS = ["https://neuroglancer-demo.appspot.com"]
INGRESS_CHOICES = ("INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_ALL")


@dataclass(frozen=True)
class Gpu:
    enabled: bool = True
    zone: str = ""                       # default: "<region>-a"
    machine_type: str = "n1-standard-4"  # T4s attach to N1 machines
    accelerator_type: str = "nvidia-tesla-t4"
    accelerator_count: int = 1
    max_nodes: int = 4
    spot: bool = True


@dataclass(frozen=True)
class Settings:
    project: str
    region: str = DEFAULT_REGION
    prefix: str = "emctl"
    bucket: str = ""                     # default: "<project>-<prefix>-data"
    force_destroy_bucket: bool = False
    image_registry: str = ""             # default: the Artifact Registry repository this stack creates
    image_tag: str = "latest"
    max_instances: dict = field(default_factory=lambda: dict(DEFAULT_MAX_INSTANCES))
    max_delivery_attempts: int = 5
    min_backoff_seconds: int = 10
    max_backoff_seconds: int = 600
    cors_origins: tuple = tuple(DEFAULT_CORS_ORIGINS)
    temporary_days: int = 7
    sweep_minutes: int = 10
    stall_minutes: int = 30
    soft_delete_days: int = 0
    ingress: str = INGRESS_CHOICES[0]
    gpu: Gpu = Gpu()

    @property
    def names(self) -> Names:
        return Names(self.prefix)

    @property
    def bucket_name(self) -> str:
        return self.bucket or f"{self.project}-{self.prefix}-data"

    @property
    def repository_id(self) -> str:
        return self.prefix

    @property
    def registry_url(self) -> str:
        """REGISTRY of docker/build-images.sh: the configured one, else the repository this stack makes."""
        return self.image_registry or f"{self.region}-docker.pkg.dev/{self.project}/{self.repository_id}"

    @property
    def gpu_zone(self) -> str:
        return self.gpu.zone or f"{self.region}-a"

    def validate(self) -> "Settings":
        problems = []
        if not self.project:
            problems.append("emctl:project (or gcp:project) is not set")
        if not 5 <= self.max_delivery_attempts <= 100:
            problems.append(f"emctl:maxDeliveryAttempts must be 5..100 (Pub/Sub's range), not {self.max_delivery_attempts}")
        if self.ingress not in INGRESS_CHOICES:
            problems.append(f"emctl:ingress must be one of {', '.join(INGRESS_CHOICES)}, not {self.ingress!r}")
        unknown = sorted(set(self.max_instances) - set(FUNCTIONS))
        if unknown:
            problems.append(f"emctl:maxInstances has unknown functions {unknown}; known: {list(FUNCTIONS)}")
        if any(int(v) < 1 for v in self.max_instances.values()):
            problems.append("emctl:maxInstances values must be at least 1")
        if not 0 < self.min_backoff_seconds <= self.max_backoff_seconds <= 600:
            problems.append("emctl:minBackoffSeconds <= emctl:maxBackoffSeconds <= 600 (Pub/Sub's limits)")
        if (len(self.prefix) > 14 or not self.prefix.replace("-", "").isalnum() or not self.prefix[:1].isalpha()
                or self.prefix != self.prefix.lower()):
            problems.append(f"emctl:prefix {self.prefix!r}: use up to 14 lowercase letters, digits and dashes, starting with a letter "
                            "(service account ids are at most 30 characters)")
        if not 1 <= self.sweep_minutes <= 59:
            problems.append(f"emctl:sweepMinutes must be 1..59, not {self.sweep_minutes}")
        # A task may run for its request timeout (at most 600 s) and wait out the longest retry
        # backoff before it writes anything: a shorter stall would re-drive jobs that are running.
        if self.stall_minutes * 60 < 600 + self.max_backoff_seconds + 60:
            problems.append(f"emctl:stallMinutes ({self.stall_minutes}) must exceed the longest task (10 min) plus "
                            f"emctl:maxBackoffSeconds ({self.max_backoff_seconds} s) and a minute")
        if problems:
            raise ValueError("stack configuration: " + "; ".join(problems))
        return self


def _parse(raw, kind):
    if raw is None or raw == "":
        return None
    if kind == "str":
        return raw
    if kind == "int":
        return int(raw)
    if kind == "bool":
        return raw if isinstance(raw, bool) else str(raw).lower() == "true"
    return json.loads(raw) if isinstance(raw, str) else raw   # an object or a list


def from_config(get: Callable[[str], str | None]) -> Settings:
    """Settings from raw config values by full key ("emctl:prefix"); unset keys take the defaults."""
    def value(key, kind="str", default=None):
        parsed = _parse(get(key), kind)
        return default if parsed is None else parsed
    project = value("emctl:project") or value("gcp:project") or ""
    gpu = value("emctl:gpu", "object", {})
    defaults = Gpu()
    return Settings(
        project=project,
        region=value("emctl:region") or value("gcp:region") or DEFAULT_REGION,
        prefix=value("emctl:prefix", default="emctl"),
        bucket=value("emctl:bucket", default=""),
        force_destroy_bucket=value("emctl:forceDestroyBucket", "bool", False),
        image_registry=value("emctl:imageRegistry", default=""),
        image_tag=value("emctl:imageTag", default="latest"),
        max_instances={**DEFAULT_MAX_INSTANCES, **value("emctl:maxInstances", "object", {})},
        max_delivery_attempts=value("emctl:maxDeliveryAttempts", "int", 5),
        min_backoff_seconds=value("emctl:minBackoffSeconds", "int", 10),
        max_backoff_seconds=value("emctl:maxBackoffSeconds", "int", 600),
        cors_origins=tuple(value("emctl:corsOrigins", "object", DEFAULT_CORS_ORIGINS)),
        temporary_days=value("emctl:temporaryDays", "int", 7),
        sweep_minutes=value("emctl:sweepMinutes", "int", 10),
        stall_minutes=value("emctl:stallMinutes", "int", 30),
        soft_delete_days=value("emctl:softDeleteDays", "int", 0),
        ingress=value("emctl:ingress", default=INGRESS_CHOICES[0]),
        gpu=Gpu(
            enabled=_parse(gpu.get("enabled", defaults.enabled), "bool"),
            zone=gpu.get("zone", defaults.zone),
            machine_type=gpu.get("machineType", defaults.machine_type),
            accelerator_type=gpu.get("acceleratorType", defaults.accelerator_type),
            accelerator_count=int(gpu.get("acceleratorCount", defaults.accelerator_count)),
            max_nodes=int(gpu.get("maxNodes", defaults.max_nodes)),
            spot=_parse(gpu.get("spot", defaults.spot), "bool"),
        ),
    ).validate()


def load() -> Settings:
    """The running Pulumi program's stack config."""
    return from_config(pulumi.runtime.get_config)


def main(argv: list[str]) -> int:
    """`pulumi config --json | python -m emctl_infra.settings registry`: what deploy.sh needs
    before the stack has outputs (the images must be pushed before the services can exist)."""
    config = json.load(sys.stdin)
    settings = from_config(lambda key: (config.get(key) or {}).get("value"))
    fields = {"registry": settings.registry_url, "project": settings.project, "region": settings.region,
              "prefix": settings.prefix, "tag": settings.image_tag}
    print(fields[argv[0]])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
