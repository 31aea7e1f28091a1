"""Options of the `pyramid` stage (`stages.pyramid` in job.json)."""
from emcore.levels import DEFAULT_PERCENTILES
from emcore.schema import Field, Section


def _check_normalize(options: dict) -> tuple[str, str] | None:
    if options["low_percentile"] >= options["high_percentile"]:
        return "high_percentile", (f"must be above low_percentile ({options['low_percentile']}), "
                                   f"got {options['high_percentile']}")
    return None


NORMALIZE = Section(
    "normalize",
    "Contrast normalization across sections (as igneous' LuminanceLevels and ContrastNormalization): render "
    "measures each section's levels (its intensity percentiles, on a regular sample of at least 4 million of its "
    "pixels), stores them under `<dest>/levels/`, and stretches the section so that `low_percentile` maps to 0 "
    "and `high_percentile` to the sample type's maximum, before its single resampling. Present (even `{}`) to "
    "normalize; absent, sections keep their levels.",
    fields=(
        Field("low_percentile", "number", DEFAULT_PERCENTILES[0], minimum=0, maximum=100,
              doc="Percentile of each section's intensities mapped to 0 (darker pixels are clipped to 0)."),
        Field("high_percentile", "number", DEFAULT_PERCENTILES[1], minimum=0, maximum=100,
              doc="Percentile of each section's intensities mapped to the maximum (255 or 65535)."),
    ),
    check=_check_normalize,
)


def _check_volume(options: dict) -> tuple[str, str] | None:
    axes = options["axes"]
    if axes is not None and sorted(axes) != ["x", "y", "z"]:
        return "axes", f"must name x, y and z once each, outermost first (e.g. 'zyx'), got {axes!r}"
    return None


VOLUME = Section(
    "volume",
    "An existing volume as the pyramid's input instead of sections (igneous' downsample and transfer): "
    "Neuroglancer precomputed, zarr (v2 or v3) or N5, told apart by the metadata object at `url`. Its "
    "full-resolution data are written re-chunked, re-sharded and re-encoded as this section's siblings say, "
    "with every coarser scale down to one chunk: means for an image (under `<dest>/image/`), modes for a "
    "segmentation (under `<dest>/segmentation/`, compressed_segmentation for uint32 and uint64). No sections "
    "are read or rendered, so the job needs no `source`, `maxz` or `align`. A precomputed volume gives its "
    "own resolution, voxel offset and layer type (its scale 0 is read); zarr and N5 take the job's "
    "`resolution` and `voxel_offset`.",
    fields=(
        Field("url", "url", doc="The volume's directory (the one holding `info`, `zarr.json`, `.zarray` or "
                                "`attributes.json`)."),
        Field("layer_type", "choice", None, nullable=True, choices=("image", "segmentation"),
              doc="Image (mean downsampling) or segmentation (mode). Default: a precomputed volume's own "
                  "`type`; image for zarr and N5."),
        Field("axes", "str", None, nullable=True,
              doc="zarr and N5: the array's dimensions as x, y, z, outermost first. Default: a zarr v3 "
                  "array's `dimension_names` when they are x, y, z; else 'zyx' for zarr (numpy's order) "
                  "and 'xyz' for N5."),
    ),
    check=_check_volume,
)


def _check(options: dict) -> tuple[str, str] | None:
    for d, (b, c) in enumerate(zip(options["block"], options["chunk"])):
        ratio = b // c
        if b % c or ratio < 2 or ratio & (ratio - 1):
            return "block", f"block[{d}] ({b}) must be chunk[{d}] ({c}) times a power of two, at least 2"
    if options.get("volume") is not None and options.get("normalize") is not None:
        return "normalize", "stretches sections as align's render resamples them; a `volume` input is not rendered"
    window = options["window"]
    if window is not None and not 0 <= window[0] < window[1] <= 65535:
        return "window", f"must be [low, high] with 0 <= low < high <= 65535, got {window}"
    return None


OPTIONS = Section(
    "pyramid",
    "Multi-scale Neuroglancer precomputed image volume under `<dest>/image/`, sharded so that each "
    "task owns whole shards; scales continue until one chunk holds the whole volume.",
    fields=(
        Field("block", "int3", [1024, 1024, 1024], minimum=2,
              doc="Voxels one task owns and writes at every scale; chunk times a power of two."),
        Field("chunk", "int3", [64, 64, 64], minimum=1, doc="Chunk shape of every scale, in voxels."),
        Field("encoding", "choice", "jpeg", choices=("jpeg", "raw"),
              doc="Encoding of `image/`: jpeg for viewing (16-bit data is windowed to 8 bits), or lossless raw."),
        Field("jpeg_quality", "int", 90, minimum=1, maximum=100, doc="JPEG quality."),
        Field("raw", "bool", False, doc="Also write a lossless copy in the source's sample type under `image_raw/`."),
        Field("ome_zarr", "bool", False,
              doc="Also write the pyramid as OME-Zarr 0.5 under `image.ome.zarr/` (Zarr v3, sharded, zstd): the "
                  "same scales in the source's sample type, lossless, for OME-Zarr tools; `emctl view --ome-zarr` "
                  "shows it."),
        Field("keep_tiles", "bool", False,
              doc="Keep the rendered sections (`<dest>/tiles/`, as large as the stack) after the pyramid is built; "
                  "by default a last wave (`pyramid.tidy`) deletes them."),
        Field("window", "int2", None, nullable=True,
              doc="16-bit data only: [low, high] sample values mapped to 0 and 255 in the JPEG layer. Default: from "
                  "the sections' measured levels, the lowest 1st and the highest 99th percentile of up to 64 "
                  "sections spread over the stack (the full range when `normalize` stretched them)."),
    ),
    sections=(NORMALIZE, VOLUME),
    check=_check,
)
