"""The cc stage as the registry sees it (emcore/spec.py): blocks -> merge tree -> remap -> scales."""
from emcore.spec import Profile, StageSpec

SPEC = StageSpec(
    name="cc",
    package="functions.cc",
    # A 256^3 block's labels, faces and statistics: Cloud Run gives 8 GiB only with 2 CPUs.
    profile=Profile(task_seconds=300, cpu="2", memory_gib=8, task_memory_gib=4.0),
    after=("pyramid",),        # its descriptor may be the job's own image
)
