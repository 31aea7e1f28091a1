"""What a stage declares about itself, apart from its code: where it runs, how big its runtime is,
what must run before it. Each stage package holds one `spec.py` with `SPEC = StageSpec(...)`;
`emcore/registry.py` lists the packages.

Standard library only: the Pulumi program (infra/, its own environment), `make images` and
`emctl validate` read specs without loading any stage's science (numpy, OpenCV, TensorStore).
A stage's behaviour (`<package>.stage.STAGE`, emcore/stage.py) and options
(`<package>.options.OPTIONS`, emcore/schema.py) are loaded only when asked for.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

FUNCTION = "function"    # a Cloud Run service / Lambda function fed by the stage's task queue
GPU_JOB = "gpu-job"      # GKE batch Jobs of worker pods pulling the stage's task subscription

PUBSUB_MAX_ACK_SECONDS = 600


@dataclass(frozen=True)
class Profile:
    """The runtime one task gets, the one table the Cloud Run service (CPU, memory, concurrency,
    request timeout), its Pub/Sub subscription (ack deadline) and `emctl plan` (memory billed per
    task) are sized from.

    `task_seconds` is a generous upper bound on one task at the job defaults, from the per-core
    throughputs in orchestrator/prices.json. The ack deadline is twice that, capped at Pub/Sub's
    600 s, and the service's request timeout equals it, so a delivery is never redelivered while
    its first attempt may still be running."""
    task_seconds: int
    cpu: str = "1"
    memory_gib: int = 1             # what the service's instance has
    concurrency: int = 1            # requests one instance serves at once; 1 for the heavy stages
    max_instances: int = 20         # default of the stack's `emctl:maxInstances`
    task_memory_gib: float = 2.0    # what one task uses: what `emctl plan` bills (below memory_gib)

    @property
    def ack_deadline_seconds(self) -> int:
        return max(10, min(PUBSUB_MAX_ACK_SECONDS, 2 * self.task_seconds))

    @property
    def timeout(self) -> str:
        return f"{self.ack_deadline_seconds}s"

    @property
    def memory(self) -> str:
        return f"{self.memory_gib}Gi"


@dataclass(frozen=True)
class StageSpec:
    name: str                       # its key under `stages` in job.json, and its resources' names
    package: str                    # where `options`, `stage` (and this spec) live
    runs: str = FUNCTION
    profile: Profile = Profile(task_seconds=300)
    # Stages whose waves must all be done before this one's first wave (when the job runs them).
    after: tuple[str, ...] = ()
    # A wave of another stage this stage's waves must precede (seamless: between align's solve
    # and its render, which applies the fields), or None.
    before: tuple[str, str] | None = None
    # Reads the job's sections from `source` (which, with `maxz`, the job must then give).
    reads_sections: bool = False
    # An option that, when given, names the stage's input instead of the sections (pyramid's
    # `volume`): the stage then reads no sections, and the `after` stages that would have made its
    # input from them cannot run in the same job.
    input_option: str | None = None
    # The image a GPU job's pods run (a FUNCTION stage's is docker/function.Dockerfile's).
    dockerfile: str | None = None

    def __post_init__(self):
        if self.runs not in (FUNCTION, GPU_JOB):
            raise ValueError(f"stage {self.name}: runs must be {FUNCTION!r} or {GPU_JOB!r}, not {self.runs!r}")
        if self.runs == GPU_JOB and not self.dockerfile:
            raise ValueError(f"stage {self.name}: a GPU job names the Dockerfile of its pods")

    def takes_sections(self, options: dict | None) -> bool:
        """Whether the stage, run with `options`, reads the job's sections."""
        return self.reads_sections and not (self.input_option and (options or {}).get(self.input_option) is not None)

    def options(self):
        """The stage's options (an emcore.schema.Section): small, loaded to validate any job."""
        return importlib.import_module(f"{self.package}.options").OPTIONS

    def stage(self):
        """The stage's behaviour (an emcore.stage.Stage): loads its science."""
        return importlib.import_module(f"{self.package}.stage").STAGE
