"""Options of the `skeleton` stage (`stages.skeleton` in job.json)."""
from emcore.schema import Field, Section
from emcore.segmentation import OWN_SEGMENTATION, check_ids, check_url

# kimimaro's TEASAR parameters (kimimaro.skeletonize's `teasar_params`); the defaults are its own.
TEASAR_DEFAULTS = {
    "scale": 1.5, "const": 300, "pdrf_scale": 100000, "pdrf_exponent": 4,
    "soma_acceptance_threshold": 3500, "soma_detection_threshold": 750,
    "soma_invalidation_const": 300, "soma_invalidation_scale": 2,
}


def _check_teasar(value) -> str | None:
    if not isinstance(value, dict):
        return f"must be an object of kimimaro's TEASAR parameters, got {value!r}"
    for key, v in value.items():
        if key not in TEASAR_DEFAULTS:
            return f"has an unknown key {key!r}; known: {', '.join(TEASAR_DEFAULTS)}"
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
            return f".{key} must be a non-negative number, got {v!r}"
    return None


OPTIONS = Section(
    "skeleton",
    "Skeletons (TEASAR, by kimimaro) of a precomputed segmentation, computed per block with one voxel "
    "of overlap and merged per object into one tree; written as Neuroglancer's sharded "
    "`neuroglancer_skeletons` to `<segmentation>/skeletons/` and referenced from the segmentation's "
    "`info` when the segmentation is the job's own; to `<dest>/skeletons/` otherwise.",
    fields=(
        Field("segmentation", "str", OWN_SEGMENTATION, check=check_url,
              doc=f"Precomputed segmentation to skeletonize: {OWN_SEGMENTATION!r} (the job's own, written by `cc`) or any URL."),
        Field("mip", "int", 0, minimum=0, doc="Scale (index into the segmentation's `scales`) to skeletonize."),
        Field("block", "int3", [256, 256, 256], minimum=16,
              doc="Voxels (at `mip`) one task of the `blocks` wave skeletonizes (plus one voxel of overlap with its upper neighbours)."),
        Field("teasar_params", "any", {}, check=_check_teasar,
              doc="kimimaro's TEASAR parameters (`scale`, `const` in nm, `pdrf_scale`, `pdrf_exponent`, `soma_*`); "
                  "keys left out take kimimaro's defaults."),
        Field("dust_threshold", "int", 1000, minimum=0,
              doc="Within a block, parts of an object with fewer voxels are not skeletonized (kimimaro's `dust_threshold`)."),
        Field("object_ids", "any", None, nullable=True, check=check_ids,
              doc="Skeletonize only these segment ids (default: every non-zero id)."),
    ),
)
