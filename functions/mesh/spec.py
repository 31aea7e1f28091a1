"""The mesh stage as the registry sees it (emcore/spec.py): blocks -> census -> route -> merge per shard -> tidy."""
from emcore.spec import Profile, StageSpec

SPEC = StageSpec(
    name="mesh",
    package="functions.mesh",
    # A 256^3 block of labels and its surfaces before simplification.
    profile=Profile(task_seconds=300, cpu="2", memory_gib=8, task_memory_gib=4.0),
    after=("cc",),             # it meshes the job's own segmentation by default
)
