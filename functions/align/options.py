"""Options of the `align` stage (`stages.align` in job.json)."""
from emcore.schema import Field, Section

MAX_ANCHORS = 4


def _check_anchors(value) -> str | None:
    if not isinstance(value, list) or len(value) > MAX_ANCHORS:
        return f"must be a list of at most {MAX_ANCHORS} section distances, got {value!r}"
    for i, v in enumerate(value):
        if not isinstance(v, int) or isinstance(v, bool) or not 2 <= v <= 4096:
            return f"[{i}] must be a distance in sections from 2 to 4096, got {v!r}"
    if len(set(value)) != len(value):
        return "lists a distance twice"
    return None


OPTIONS = Section(
    "align",
    "Feature-based affine alignment of the sections, then rendering into one frame. Without this "
    "stage the sections are rendered as they are (identity transforms) for the pyramid.",
    fields=(
        Field("model", "choice", "affine", choices=("affine", "rigid", "translation"),
              doc="Most general model a section pair, and the solve, may use; simpler ones are chosen when the extra "
                  "freedom explains nothing (docs/align.md)."),
        Field("reach", "int", 2, minimum=1, maximum=5,
              doc="Each section is matched to the next `reach` sections; 2 lets a bad section be bridged."),
        Field("anchors", "any", [8, 32], check=_check_anchors,
              doc="Each section is also matched to the sections this many further on. Neighbour pairs alone leave "
                  "the stack's shape a random walk along z (the error grows with the stack's length); these "
                  "long-range pairs hold it. A pair that finds no common tissue is simply not used. `[]`: none."),
        Field("downsample_factor", "int", 1, minimum=1, maximum=64,
              doc="Find features on sections shrunk by this factor (at least enough that the copy is at most "
                  "2048 px a side), then refine the matches at full resolution."),
        Field("clahe", "bool", False, doc="Contrast-limited adaptive histogram equalisation when rendering."),
    ),
)


def partners(z: int, last: int, reach: int, anchors: list[int]) -> list[int]:
    """The sections section z is matched to: its next `reach` neighbours and its anchors, within
    the stack (`last` is the last section's z)."""
    return sorted({w for w in [*range(z + 1, z + reach + 1), *(z + d for d in anchors)] if w <= last})
