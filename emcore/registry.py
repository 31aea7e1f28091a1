"""The stages emctl runs: one line per stage package, and the only list of them. Everything else
that needs the stages (job validation and the job.json reference, the order of a job's waves,
`emctl plan` and `status`, the cloud resources' names, the Pulumi program, the images `make
images` builds) asks here.

Adding a stage is adding its package (`spec.py`, `options.py`, `stage.py`: see emcore/spec.py)
and its line below. Standard library only at import (infra/ and docker/build-images.sh read it).

    python -m emcore.registry images     the images to build: name, Dockerfile, what it serves
"""
from __future__ import annotations

import functools
import importlib
import sys

from emcore.spec import FUNCTION, GPU_JOB, StageSpec

PACKAGES = (
    "functions.align",
    "seamless",              # gpu-jobs/seamless
    "functions.pyramid",
    "functions.cc",
    "functions.mesh",
    "functions.skeleton",
)

ORCHESTRATOR = "orchestrator"    # the one function that is not a stage
FUNCTION_DOCKERFILE = "docker/function.Dockerfile"
ENTRY_POINTS = {FUNCTION: "functions/main.py", ORCHESTRATOR: "orchestrator/main.py"}

# Packages registered at run time (the engine's tests, plugins), after the listed ones.
_registered: list[str] = []


def register(package: str) -> None:
    if package not in _registered:
        _registered.append(package)
        _clear()


def unregister(package: str) -> None:
    if package in _registered:
        _registered.remove(package)
        _clear()


def _clear() -> None:
    specs.cache_clear()
    stage.cache_clear()


@functools.cache
def specs() -> tuple[StageSpec, ...]:
    """Every stage, in the order a job runs them: after the stages it names in `after`, else in
    the order listed."""
    listed = [importlib.import_module(f"{p}.spec").SPEC for p in (*PACKAGES, *_registered)]
    known = {s.name for s in listed}
    ordered: list[StageSpec] = []
    while listed:
        placed = {s.name for s in ordered}
        ready = next((s for s in listed if all(a in placed or a not in known for a in s.after)), None)
        if ready is None:
            raise ValueError(f"stages {[s.name for s in listed]} wait for each other (their `after`)")
        ordered.append(ready)
        listed.remove(ready)
    return tuple(ordered)


def spec(name: str) -> StageSpec:
    for s in specs():
        if s.name == name:
            return s
    raise ValueError(f"unknown stage {name!r}; known: {', '.join(stage_names())}")


def stage_names() -> tuple[str, ...]:
    return tuple(s.name for s in specs())


def function_stages() -> tuple[str, ...]:
    """Stages served by a function (Cloud Run service, Lambda) fed by their task queue."""
    return tuple(s.name for s in specs() if s.runs == FUNCTION)


def gpu_job_stages() -> tuple[str, ...]:
    """Stages whose tasks GKE batch Jobs pull from their subscription."""
    return tuple(s.name for s in specs() if s.runs == GPU_JOB)


@functools.cache
def stage(name: str):
    """The stage's behaviour (emcore.stage.Stage), loaded once per process."""
    return spec(name).stage()


def option_sections() -> tuple:
    """Every stage's options (emcore.schema.Section), for validation and the job.json reference."""
    return tuple(s.options() for s in specs())


def job_waves(job, store) -> list[tuple[str, str]]:
    """Every (stage, wave) of the job, in execution order. A stage's waves go after those of the
    stages before it, unless it names a wave it must precede (`StageSpec.before`). Every stage
    is asked, the job's or not: align renders the sections for a job that only builds a pyramid."""
    waves: list[tuple[str, str]] = []
    for s in specs():
        own = [(s.name, w) for w in stage(s.name).waves(job, store)]
        if own and s.before in waves:
            at = waves.index(s.before)
            waves[at:at] = own
        else:
            waves.extend(own)
    return waves


def images() -> list[tuple[str, str, str, str]]:
    """(image, Dockerfile, EMCTL_FUNCTION, entry point) of every image a deployment runs: a
    function image per FUNCTION stage and the orchestrator's, all from one template; a GPU job
    stage's from its own Dockerfile ("-" for what it does not take)."""
    out = [(name, FUNCTION_DOCKERFILE, name, ENTRY_POINTS[FUNCTION]) for name in function_stages()]
    out.append((ORCHESTRATOR, FUNCTION_DOCKERFILE, ORCHESTRATOR, ENTRY_POINTS[ORCHESTRATOR]))
    out += [(s.name, s.dockerfile, "-", "-") for s in specs() if s.runs == GPU_JOB]
    return out


def main(argv: list[str]) -> int:
    if argv != ["images"]:
        print("usage: python -m emcore.registry images", file=sys.stderr)
        return 2
    for row in images():
        print(" ".join(row))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
