"""The pyramid stage as the registry sees it (emcore/spec.py): a wave of blocks per level, tidy."""
from emcore.spec import Profile, StageSpec

SPEC = StageSpec(
    name="pyramid",
    package="functions.pyramid",
    # A 1024^3 block: four cores for TensorStore's encoding threads; a piece and an eighth of the
    # block in memory (docs/architecture.md).
    profile=Profile(task_seconds=300, cpu="4", memory_gib=4, task_memory_gib=2.0),
    after=("align",),          # it reads what align's render wrote (tiles/)
    reads_sections=True,       # render, which runs for every pyramid from sections, reads them
    input_option="volume",     # ... unless it downsamples an existing volume
)
