"""Options of the `cc` stage (`stages.cc` in job.json).

What can be checked without the data is checked here (shapes, ranges); what needs the descriptor
volume (its type, its value range, whether it exists) is checked when the first wave is planned,
by `descriptor.py`, with errors naming the same fields.
"""
from emcore.schema import Field, Section
from functions.cc.grid import ID_STRIDE

DEST = "<dest>/"
SCHEMES = ("file://", "mem://", "gs://", "s3://")


def _check_descriptor(url: str) -> str | None:
    # Kept as written (kind "str", not "url"): a "<dest>/..." form is resolved against the job
    # root when the stage runs, and a relative path would depend on the worker's directory.
    if url.startswith(DEST) or url.startswith("/") or url.startswith(SCHEMES):
        return None
    return (f"must be an absolute path, a URL ({', '.join(SCHEMES)}) or {DEST}... for a volume "
            f"inside the job, got {url!r}")


def _check(options: dict) -> tuple[str, str] | None:
    for d, (b, c) in enumerate(zip(options["chunkshape"], options["chunk"])):
        ratio = b // c
        # Each remap task owns one cc chunk and writes it at every scale where it is still a
        # chunk wide: at least two chunks per axis, so the first downsampled scale is its own too.
        if b % c or ratio < 2 or ratio & (ratio - 1):
            return "chunkshape", (f"chunkshape[{d}] ({b}) must be chunk[{d}] ({c}) times a power "
                                  f"of two, at least 2")
    voxels = options["chunkshape"][0] * options["chunkshape"][1] * options["chunkshape"][2]
    if voxels >= ID_STRIDE:
        return "chunkshape", f"a chunk of {voxels} voxels is too large: at most {ID_STRIDE - 1}"
    return None


OPTIONS = Section(
    "cc",
    "Connected components of a thresholded descriptor volume (synaptic clefts, organelles), "
    "exact across chunks, written as a precomputed segmentation under `<dest>/segmentation/` with "
    "`<dest>/segments.csv` and Neuroglancer segment properties.",
    fields=(
        Field("descriptor", "str", check=_check_descriptor,
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
        Field("chunkshape", "int3", [256, 256, 256], minimum=2,
              doc="Voxels one task labels and remaps; chunk times a power of two (at least 2)."),
        Field("chunk", "int3", [64, 64, 64], minimum=1,
              doc="Chunk shape of the segmentation's scales, in voxels."),
        Field("nummergetasks", "int", 1, minimum=1,
              doc="Tasks of the first merge wave; more than 8 add combine waves (a tree of fan-in 8)."),
        Field("keep_intermediates", "bool", False,
              doc="Keep the per-chunk labels, faces, statistics, merge partials and mapping under `<dest>/cc/` "
                  "after the segmentation is written; by default a last wave (`cc.tidy`) deletes them."),
    ),
    check=_check,
)
