"""How big each function is and how long one of its tasks may take: the one table the Cloud Run
services (CPU, memory, concurrency, request timeout) and the Pub/Sub subscriptions (ack deadline)
are sized from.

`task_seconds` is a generous upper bound on one task at the job defaults (a 1024^3 pyramid block,
a 256^3 cc chunk, a pair of sections), from the per-core throughputs in orchestrator/prices.json.
The ack deadline is twice that, capped at Pub/Sub's 600 s, and the service's request timeout equals
it, so a delivery is never redelivered while its first attempt may still be running.
Memory must cover orchestrator/prices.json's `memory_gib_per_task` plus the runtime (a test
checks it).
"""
from __future__ import annotations

from dataclasses import dataclass

from emcore.names import ORCHESTRATOR

PUBSUB_MAX_ACK_SECONDS = 600


@dataclass(frozen=True)
class Profile:
    task_seconds: int
    cpu: str = "1"
    memory_gib: int = 1
    concurrency: int = 1   # requests one instance serves at once; 1 for the heavy stages

    @property
    def ack_deadline_seconds(self) -> int:
        return max(10, min(PUBSUB_MAX_ACK_SECONDS, 2 * self.task_seconds))

    @property
    def timeout(self) -> str:
        return f"{self.ack_deadline_seconds}s"

    @property
    def memory(self) -> str:
        return f"{self.memory_gib}Gi"


PROFILES: dict[str, Profile] = {
    # stage functions: one task at a time, the whole instance for it
    "align": Profile(task_seconds=150, cpu="2", memory_gib=4, concurrency=1),
    "pyramid": Profile(task_seconds=300, cpu="4", memory_gib=4, concurrency=1),
    "cc": Profile(task_seconds=300, cpu="2", memory_gib=8, concurrency=1),
    "mesh": Profile(task_seconds=300, cpu="2", memory_gib=8, concurrency=1),
    # the orchestrator plans and publishes; it does no heavy work, so it takes several events at once
    ORCHESTRATOR: Profile(task_seconds=60, cpu="1", memory_gib=2, concurrency=8),
    # GPU tasks run in GKE Jobs that pull their subscription (the client extends its lease)
    "seamless": Profile(task_seconds=300),
}

HEAVY_STAGES = tuple(name for name, p in PROFILES.items() if p.concurrency == 1 and name != "seamless")
