"""The noop stage as the registry sees it (emcore/spec.py)."""
from emcore.spec import Profile, StageSpec

SPEC = StageSpec(name="noop", package=__package__, profile=Profile(task_seconds=10))
