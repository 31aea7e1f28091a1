"""The stages the orchestrator knows, in the order a job runs them.

Each stage package declares its options (`options.OPTIONS`, a schema Section) and its behaviour
(`stage.STAGE`). Options are imported eagerly (they are tiny and needed to validate any job);
stage code lazily, so `emctl validate` does not load OpenCV or TensorStore.
"""
from __future__ import annotations

import functools
import importlib
import json

from emcore.job import Job, parse_job_text, validate_job
from emcore.schema import Section
from emcore.stage import Stage

STAGE_PACKAGES = {
    "align": "functions.align",
    "seamless": "seamless",          # gpu-jobs/seamless; its waves run before align's render (Stage.before)
    "pyramid": "functions.pyramid",
    "cc": "functions.cc",
    "mesh": "functions.mesh",
}
STAGE_ORDER = tuple(STAGE_PACKAGES)

# Stages added at run time (plugins, and the engine's own tests), run after the built-in ones.
_EXTRA: dict[str, tuple[Stage, Section]] = {}


def register_stage(stage: Stage, options: Section) -> None:
    _EXTRA[stage.name] = (stage, options)
    option_sections.cache_clear()


def unregister_stage(name: str) -> None:
    _EXTRA.pop(name, None)
    option_sections.cache_clear()


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


@functools.cache
def option_sections() -> tuple[Section, ...]:
    sections = []
    for package in STAGE_PACKAGES.values():
        if _has_module(f"{package}.options"):
            sections.append(importlib.import_module(f"{package}.options").OPTIONS)
    return tuple(sections) + tuple(options for _, options in _EXTRA.values())


def get_stage(name: str) -> Stage:
    if name in _EXTRA:
        return _EXTRA[name][0]
    return _builtin_stage(name)


@functools.cache
def _builtin_stage(name: str) -> Stage:
    try:
        package = STAGE_PACKAGES[name]
    except KeyError:
        raise ValueError(f"unknown stage {name!r}; known: {', '.join(STAGE_ORDER)}") from None
    return importlib.import_module(f"{package}.stage").STAGE


def stage_cost(name: str):
    """The stage's optional task cost estimate, `functions/<stage>/cost.py: cost(job, wave, params,
    store) -> {"bytes_in", "reads", "writes"}`, or None."""
    package = STAGE_PACKAGES.get(name)
    if package is None or not _has_module(f"{package}.cost"):
        return None
    return importlib.import_module(f"{package}.cost").cost


def job_waves(job: Job, store) -> list[tuple[str, str]]:
    """Every (stage, wave) of the job, in execution order."""
    waves = []
    for name in STAGE_ORDER:
        if not _has_module(f"{STAGE_PACKAGES[name]}.stage"):
            if job.stage(name) is not None:
                raise ValueError(f"stage {name!r} is not available in this installation")
            continue
        _place(waves, name, get_stage(name), job, store)
    for name, (stage, _) in _EXTRA.items():
        _place(waves, name, stage, job, store)
    return waves


def _place(waves: list[tuple[str, str]], name: str, stage: Stage, job: Job, store) -> None:
    """A stage's waves go after those of the stages before it, unless it names a wave it must
    precede (`before`: seamless computes fields between align's solve and its render)."""
    own = [(name, w) for w in stage.waves(job, store)]
    anchor = tuple(getattr(stage, "before", None) or ())
    if own and anchor in waves:
        at = waves.index(anchor)
        waves[at:at] = own
    else:
        waves.extend(own)


def load_job(raw: dict) -> Job:
    return validate_job(raw, option_sections())


def load_job_text(text: str, origin: str = "job.json") -> Job:
    return parse_job_text(text, option_sections(), origin)


def load_job_file(path: str) -> Job:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise FileNotFoundError(f"cannot read config {path}: {e.strerror}") from None
    return load_job_text(text, origin=path)


def job_json(job: Job) -> dict:
    return json.loads(job.to_json())
