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


def _check_dest_url(value) -> str | None:
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in ("", "file", "mem", "gs", "s3"):
        return f"unsupported URL scheme {scheme!r}: use a local path, file://, mem://, gs:// or s3://"
    return None


OPTIONS = Section(
    "align",
    "Affine alignment of the sections by patch correlation and one global solve, then rendering into one frame. Without this "
    "stage the sections are rendered as they are (identity transforms) for the pyramid.",
    fields=(
        Field("model", "choice", "affine", choices=("affine", "rigid", "translation"),
              doc="Most general model a section pair, and the solve, may use; simpler ones are chosen when the extra "
                  "freedom explains nothing (docs/align.md)."),
        Field("reach", "int", 2, minimum=1, maximum=5,
              doc="Each section is matched to the next `reach` sections; 2 lets a bad section be bridged. Pairs "
                  "beyond the neighbour enter the solve only where they agree with the neighbour pairs."),
        Field("anchors", "any", [], check=_check_anchors,
              doc="Each section is also matched to the sections this many further on (e.g. [8, 32]): long-range "
                  "pairs that hold the stack's shape where the tissue keeps its structures over many sections "
                  "(FIB-SEM, thin sections). Off by default: between real 50 nm sections 8 apart most such pairs "
                  "are wrong (docs/align.md)."),
        Field("downsample_factor", "int", None, nullable=True, minimum=1, maximum=64,
              doc="Match patches on sections shrunk by this factor. Default: working pixels of about "
                  "8 nm from `resolution` (2 at 4 nm): finer, the texture that differs between "
                  "sections dominates; coarser, the precision is lost."),
        Field("max_rotation", "number", 10.0, minimum=0, maximum=180,
              doc="Largest rotation, in degrees, between two sections that are matched; the search costs time in "
                  "proportion. Sections collected on tape may need 180."),
        Field("max_unplaced", "int", 0, minimum=0,
              doc="Sections showing tissue that no usable pair places (their transform is then interpolated from "
                  "their neighbours) that the job accepts. Beyond it the solve fails the job and names them and "
                  "their pairs: an alignment that could not do its work never reports complete. Blank sections "
                  "do not count."),
        Field("max_splits", "int", 0, minimum=0,
              doc="Gaps in the stack that no usable pair crosses (the parts are then tied as imaged) that the job "
                  "accepts; beyond it the solve fails the job and names them."),
        Field("clahe", "bool", False, doc="Contrast-limited adaptive histogram equalisation when rendering."),
        Field("transforms_from", "str", None, nullable=True, check=_check_dest_url,
              doc="The dest of another job whose `align/transforms.json` this stack is rendered with, instead "
                  "of being matched: masks, labels or a second channel imaged on the same sections as that "
                  "job's (same size, same z). Its sections must cover this job's `minz`..`maxz`; the other "
                  "options of this stage are then unused."),
    ),
)


MATCH_PIXEL_NM = 8.0      # working pixel size of the matching, when downsample_factor is not given


def matching_factor(options: dict, resolution) -> int:
    """The shrink factor patches are matched at: the option, or working pixels of about
    MATCH_PIXEL_NM from the sections' pixel size (docs/align.md: measured on real sections)."""
    if options.get("downsample_factor"):
        return int(options["downsample_factor"])
    return max(1, int(round(MATCH_PIXEL_NM / max(float(resolution[0]), float(resolution[1])))))


def partners(z: int, last: int, reach: int, anchors: list[int]) -> list[int]:
    """The sections section z is matched to: its next `reach` neighbours and its anchors, within
    the stack (`last` is the last section's z)."""
    return sorted({w for w in [*range(z + 1, z + reach + 1), *(z + d for d in anchors)] if w <= last})
