"""Options of the `align` stage (`stages.align` in job.json)."""
from emcore.schema import Field, Section

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
        Field("downsample_factor", "int", 1, minimum=1, maximum=64,
              doc="Find features on sections shrunk by this factor (at least enough that the copy is at most "
                  "2048 px a side), then refine the matches at full resolution."),
        Field("clahe", "bool", False, doc="Contrast-limited adaptive histogram equalisation when rendering."),
    ),
)
