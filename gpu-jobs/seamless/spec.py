"""The seamless stage as the registry sees it (emcore/spec.py): images -> pairs -> vote, run by
GKE batch Jobs (seamless/kube.py) between align's solve and its render."""
from emcore.spec import GPU_JOB, Profile, StageSpec

SPEC = StageSpec(
    name="seamless",
    package="seamless",
    runs=GPU_JOB,
    dockerfile="gpu-jobs/Dockerfile",
    # Its pods' size is the node pool's (seamless/kube.py Settings); this sizes the subscription's
    # ack deadline, which the pods' lease extension keeps ahead of.
    profile=Profile(task_seconds=300),
    after=("align",),
    before=("align", "render"),   # render applies each section's field with its affine, once
    reads_sections=True,
)
