"""The names of every cloud resource the runtime uses: one source of truth, read both by the
runtime (which topic a stage's tasks go to, which prefix triggers a job) and by the Pulumi program
in infra/ (which creates exactly these), for every stage of the registry (emcore/registry.py).
Standard library only, so infra's own environment can import it.

A deployment is identified by a short `prefix` (env EMCTL_PREFIX, default "emctl") so that several
can share a project.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from emcore import registry

# Object prefix under which uploads (job.json and sections) trigger jobs, and the per-job layout
# below it: uploads/<job-id>/job.json, sections anywhere below uploads/<job-id>/.
UPLOAD_PREFIX = "uploads/"


@dataclass(frozen=True)
class Names:
    prefix: str = "emctl"

    def task_topic(self, stage: str) -> str:
        """Where a stage's task messages are published."""
        return f"{self.prefix}-{stage}-tasks"

    def dead_letter_topic(self, stage: str) -> str:
        return f"{self.prefix}-{stage}-dead"

    def push_subscription(self, stage: str) -> str:
        return f"{self.prefix}-{stage}-push"

    def dead_letter_subscription(self, stage: str) -> str:
        """Delivers a stage's dead letters to the orchestrator, which records the failure."""
        return f"{self.prefix}-{stage}-dead-push"

    @property
    def events_topic(self) -> str:
        """The orchestrator's input: bucket notifications (uploads) and wave-completion events."""
        return f"{self.prefix}-events"

    @property
    def events_subscription(self) -> str:
        return f"{self.prefix}-events-push"

    def service(self, stage_or_orchestrator: str) -> str:
        """Cloud Run service (or Lambda function) name."""
        return f"{self.prefix}-{stage_or_orchestrator}"

    def service_account(self, stage_or_orchestrator: str) -> str:
        return f"{self.prefix}-{stage_or_orchestrator}"[:30]

    @property
    def invoker_account(self) -> str:
        return f"{self.prefix}-invoker"[:30]

    @property
    def gpu_account(self) -> str:
        return f"{self.prefix}-gpu"[:30]

    def queue(self, stage: str) -> str:
        """SQS queue of a stage's tasks (AWS)."""
        return f"{self.prefix}-{stage}-tasks"

    def dead_letter_queue(self, stage: str) -> str:
        return f"{self.prefix}-{stage}-dead"

    @property
    def events_queue(self) -> str:
        return f"{self.prefix}-events"

    def stage_of_dead_letter_subscription(self, subscription: str) -> str | None:
        name = subscription.rsplit("/", 1)[-1]
        for stage in registry.stage_names():
            if name == self.dead_letter_subscription(stage):
                return stage
        return None


def names() -> Names:
    return Names(os.environ.get("EMCTL_PREFIX", "emctl"))
