"""How big each function is and how long one of its tasks may take: each stage's own resource
profile (its spec, emcore/spec.py), and the orchestrator's here. The Cloud Run services (CPU,
memory, concurrency, request timeout, maximum instances) and the Pub/Sub subscriptions (ack
deadline) are sized from this one table."""
from __future__ import annotations

from emcore import registry
from emcore.registry import ORCHESTRATOR
from emcore.spec import Profile

PROFILES: dict[str, Profile] = {
    **{s.name: s.profile for s in registry.specs()},
    # the orchestrator plans and publishes; it does no heavy work, so it takes several events at once
    ORCHESTRATOR: Profile(task_seconds=60, cpu="1", memory_gib=2, concurrency=8, max_instances=5),
}

# Cloud Run services: a stage's function, and the orchestrator.
FUNCTIONS = (*registry.function_stages(), ORCHESTRATOR)
