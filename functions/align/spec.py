"""The align stage as the registry sees it (emcore/spec.py): pairs -> solve -> render."""
from emcore.spec import Profile, StageSpec

SPEC = StageSpec(
    name="align",
    package="functions.align",
    # A task matches a run of sections (or renders one): two cores for OpenCV, 4 GiB for a run's
    # prepared sections.
    profile=Profile(task_seconds=150, cpu="2", memory_gib=4, task_memory_gib=2.0),
    reads_sections=True,
)
