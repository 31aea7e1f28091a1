"""The skeleton stage as the registry sees it (emcore/spec.py): blocks -> census -> route -> merge per shard -> tidy."""
from emcore.spec import Profile, StageSpec

SPEC = StageSpec(
    name="skeleton",
    package="functions.skeleton",
    # kimimaro on a 256^3 block of labels: its distance transforms hold ~10 bytes a voxel.
    profile=Profile(task_seconds=600, cpu="2", memory_gib=8, task_memory_gib=4.0),
    after=("cc",),             # it skeletonizes the job's own segmentation by default
)
