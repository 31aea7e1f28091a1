"""Options of the `mesh` stage (`stages.mesh` in job.json)."""
from emcore.schema import Field, Section

OWN_SEGMENTATION = "<dest>/segmentation/"


def _check_ids(value) -> str | None:
    if not isinstance(value, list) or not value:
        return f"must be a non-empty list of segment ids, got {value!r}"
    for i, v in enumerate(value):
        if not isinstance(v, int) or isinstance(v, bool) or not 0 < v < 2 ** 64:
            return f"[{i}] must be a segment id (an integer from 1 to 2^64-1), got {v!r}"
    if len(set(value)) != len(value):
        return "lists an id twice"
    return None


def _check_url(value: str) -> str | None:
    if value == OWN_SEGMENTATION:
        return None
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in ("", "file", "mem", "gs", "s3"):
        return f"unsupported URL scheme {scheme!r}: use {OWN_SEGMENTATION!r}, a local path, file://, mem://, gs:// or s3://"
    return None


OPTIONS = Section(
    "mesh",
    "Multi-resolution meshes (Neuroglancer `neuroglancer_multilod_draco`, sharded) of a precomputed "
    "segmentation, closed across chunks. Written to `<segmentation>/mesh/` and referenced from the "
    "segmentation's `info` when the segmentation is the job's own; to `<dest>/mesh/` otherwise.",
    fields=(
        Field("segmentation", "str", OWN_SEGMENTATION, check=_check_url,
              doc=f"Precomputed segmentation to mesh: {OWN_SEGMENTATION!r} (the job's own, written by `cc`) or any URL."),
        Field("mip", "int", 0, minimum=0, doc="Scale (index into the segmentation's `scales`) to mesh."),
        Field("block", "int3", [256, 256, 256], minimum=16,
              doc="Voxels (at `mip`) one task of the `chunks` wave meshes; also the finest octree node of the multi-resolution mesh."),
        Field("simplification_error", "number", 40, minimum=0,
              doc="Largest distance in nm between the finest level of detail and the unsimplified surface (0: no simplification); doubles with each coarser level."),
        Field("lods", "int", 3, minimum=1, maximum=10, doc="Levels of detail written per object."),
        Field("object_ids", "any", None, nullable=True, check=_check_ids,
              doc="Mesh only these segment ids (default: every non-zero id)."),
        Field("keep_intermediates", "bool", False,
              doc="Keep the per-chunk meshes and merge lists under `<dest>/mesh-tmp/` after the meshes are "
                  "written; by default a last wave (`mesh.tidy`) deletes them."),
        Field("min_voxels", "int", 0, minimum=0,
              doc="Objects with fewer voxels (at `mip`, counted over the whole volume) are not meshed."),
    ),
    # `chunk` named the task extent here while it named a storage chunk in pyramid and cc.
    renamed=(("chunk", "block"),),
)
