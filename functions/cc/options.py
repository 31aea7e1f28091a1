"""Options of the `cc` stage (`stages.cc` in job.json).

What can be checked without the data is checked here (shapes, ranges); what needs the descriptor
volume (its type, its value range, whether it exists) is checked when the first wave is planned,
by `descriptor.py`, with errors naming the same fields.
"""
from emcore.schema import Field, Section
from functions.cc.grid import ID_STRIDE

DEST = "<dest>/"
SCHEMES = ("file://", "mem://", "gs://", "s3://")


def _check_volume_url(url: str) -> str | None:
    # Kept as written (kind "str", not "url"): a "<dest>/..." form is resolved against the job
    # root when the stage runs, and a relative path would depend on the worker's directory.
    if url.startswith(DEST) or url.startswith("/") or url.startswith(SCHEMES):
        return None
    return (f"must be an absolute path, a URL ({', '.join(SCHEMES)}) or {DEST}... for a volume "
            f"inside the job, got {url!r}")


# The largest chunk side chosen when `chunk` is not given: 64 is Neuroglancer's and igneous'
# usual, small enough that a view loads little it does not show.
DEFAULT_CHUNK_SIDE = 64


def _chunks_of(block: int) -> list[int]:
    """The chunk sides that fit a block side: block / 2^k for k >= 1, largest first."""
    out, side = [], block
    while side % 2 == 0:
        side //= 2
        out.append(side)
    return out


def _complete(options: dict) -> dict:
    """`chunk` follows from `block` when not given: per axis the largest side of at most
    DEFAULT_CHUNK_SIDE that divides it by a power of two (else the largest that does), so that
    Synaptor's `chunkshape: [512, 512, 64]` (its name for `block`) gives [64, 64, 32]."""
    if options["chunk"] is not None:
        return options
    sides = [_chunks_of(b) for b in options["block"]]
    if not all(sides):
        return options                        # an odd block: `_check` says what would do
    chunk = [next((c for c in fits if c <= DEFAULT_CHUNK_SIDE), fits[-1]) for fits in sides]
    return dict(options, chunk=chunk)


def _nearest_blocks(block: int, chunk: int) -> list[int]:
    """The block sides chunk * 2^k (k >= 1) nearest to `block`, one below and one above."""
    sides = [chunk * 2 ** k for k in range(1, 40)]
    above = next(s for s in sides if s >= block)
    below = [s for s in sides if s < block][-1:]
    return below + [above]


def _check(options: dict) -> tuple[str, str] | None:
    if options["mergethresh"] is not None and options["baseseg"] is None:
        return "mergethresh", ("merges segments with the same partners in `baseseg`, and no `baseseg` "
                               "is given: add `baseseg` or leave `mergethresh` out")
    chunk = options["chunk"]
    for d, b in enumerate(options["block"]):
        fits = _chunks_of(b)
        if chunk is None:            # left unset by `_complete`: some side is odd
            if not fits:
                return "block", (f"block[{d}] ({b}) must be even: it is the segmentation's chunk times "
                                 f"a power of two (at least 2); {b - 1} or {b + 1} would do")
            continue
        # Each remap task owns one block and writes it at every scale where it is still a
        # chunk wide: at least two chunks per axis, so the first downsampled scale is its own too.
        if chunk[d] not in fits:
            would = [str(c) for c in fits[:3]]
            instead = f"chunk[{d}] {' or '.join(would)} would do, or " if would else ""
            blocks = " or ".join(str(s) for s in _nearest_blocks(b, chunk[d]))
            derivable = all(_chunks_of(side) for side in options["block"])
            leave_out = " (or leave `chunk` out: it then follows from block)" if derivable else ""
            return "block", (f"block[{d}] ({b}) must be chunk[{d}] ({chunk[d]}) times a power of two, "
                             f"at least 2: {instead}block[{d}] {blocks}{leave_out}")
    voxels = options["block"][0] * options["block"][1] * options["block"][2]
    if voxels >= ID_STRIDE:
        return "block", f"a block of {voxels} voxels is too large: at most {ID_STRIDE - 1}"
    return None


OPTIONS = Section(
    "cc",
    "Connected components of a thresholded descriptor volume (synaptic clefts, organelles), "
    "exact across chunks, written as a precomputed segmentation under `<dest>/segmentation/` with "
    "`<dest>/segments.csv` and Neuroglancer segment properties.",
    fields=(
        Field("descriptor", "str", check=_check_volume_url,
              doc="Precomputed volume (uint8, uint16 or float32, one channel) to threshold: a URL, "
                  "an absolute path, or `<dest>/...` for a volume the job writes (e.g. `<dest>/image_raw/`)."),
        Field("scale", "int", 0, minimum=0, doc="Scale of the descriptor to segment (0: full resolution)."),
        Field("ccthresh", "number", 0.5, doc="Voxels whose value is greater than this are foreground."),
        Field("connectivity", "choice", 26, choices=(6, 18, 26),
              doc="Voxels touch across faces (6), also edges (18), also corners (26)."),
        Field("dustthresh", "int", 0, minimum=0,
              doc="Segments smaller than this (in voxels) are dropped; applied after the merge, so "
                  "pieces of large objects that cross chunks are kept."),
        Field("szthresh", "int", 0, minimum=0,
              doc="Global size threshold in voxels, applied after the merge (the larger of the two "
                  "thresholds wins)."),
        Field("block", "int3", [256, 256, 256], minimum=2,
              doc="Voxels one task labels and remaps; chunk times a power of two (at least 2)."),
        Field("chunk", "int3", None, nullable=True, minimum=1,
              doc="Chunk shape of the segmentation's scales, in voxels. Default: from `block`, per axis the "
                  "largest side of at most 64 that divides it by a power of two ([64, 64, 32] for "
                  "[512, 512, 64], [64, 64, 64] for the default)."),
        Field("nummergetasks", "int", 1, minimum=1,
              doc="Tasks of the first merge wave; more than 8 add combine waves (a tree of fan-in 8)."),
        Field("baseseg", "str", None, nullable=True, check=_check_volume_url,
              doc="Base segmentation (precomputed, type segmentation; its scale 0 the same size, resolution "
                  "and voxel offset as the descriptor's segmented scale): per segment the base segments it "
                  "overlaps and touches, and its two partners, in `segments.csv` and the segment "
                  "properties (docs/cc.md). A URL, an absolute path or `<dest>/...`."),
        Field("mergethresh", "number", None, nullable=True, minimum=0,
              doc="Segments with the same two partners in `baseseg` whose centroids are at most this many "
                  "nm apart are merged into one (the smallest id survives). Needs `baseseg`."),
        Field("keep_intermediates", "bool", False,
              doc="Keep the per-chunk labels, faces, statistics, merge partials and mapping under `<dest>/cc/` "
                  "after the segmentation is written; by default a last wave (`cc.tidy`) deletes them."),
    ),
    check=_check,
    complete=_complete,
    aliases=(("chunkshape", "block"),),   # Synaptor's name: its cc configs load unchanged
)
