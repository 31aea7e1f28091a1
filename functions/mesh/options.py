"""Options of the `mesh` stage (`stages.mesh` in job.json)."""
from emcore.schema import Field, Section
from emcore.segmentation import OWN_SEGMENTATION, check_ids as _check_ids, check_url as _check_url

OPTIONS = Section(
    "mesh",
    "Multi-resolution meshes (Neuroglancer `neuroglancer_multilod_draco`, sharded) of a precomputed "
    "segmentation, closed across blocks. Written to `<segmentation>/mesh/` and referenced from the "
    "segmentation's `info` when the segmentation is the job's own; to `<dest>/mesh/` otherwise.",
    fields=(
        Field("segmentation", "str", OWN_SEGMENTATION, check=_check_url,
              doc=f"Precomputed segmentation to mesh: {OWN_SEGMENTATION!r} (the job's own, written by `cc`) or any URL."),
        Field("mip", "int", 0, minimum=0, doc="Scale (index into the segmentation's `scales`) to mesh."),
        Field("block", "int3", [256, 256, 256], minimum=16,
              doc="Voxels (at `mip`) one task of the `blocks` wave meshes; also the finest octree node of the multi-resolution mesh."),
        Field("simplification_error", "number", 40, minimum=0,
              doc="Largest distance in nm between the finest level of detail and the unsimplified surface (0: no simplification); doubles with each coarser level."),
        Field("lods", "int", 3, minimum=1, maximum=10, doc="Levels of detail written per object."),
        Field("object_ids", "any", None, nullable=True, check=_check_ids,
              doc="Mesh only these segment ids (default: every non-zero id)."),
        Field("keep_intermediates", "bool", False,
              doc="Keep the per-block meshes and merge lists under `<dest>/mesh-tmp/` after the meshes are "
                  "written; by default a last wave (`mesh.tidy`) deletes them."),
        Field("min_voxels", "int", 0, minimum=0,
              doc="Objects with fewer voxels (at `mip`, counted over the whole volume) are not meshed."),
    ),
    # `chunk` named the task extent here while it named a storage chunk in pyramid and cc.
    renamed=(("chunk", "block"),),
)
