"""Options of the `seamless` stage (`stages.seamless` in job.json)."""
from emcore.schema import Field, Section


def _check(options: dict) -> tuple[str, str] | None:
    if options["estimator"] == "onnx" and options["model"] is None:
        return "model", "is required when estimator is 'onnx' (the URL of an .onnx file)"
    if options["estimator"] != "onnx" and options["model"] is not None:
        return "model", "is only used by the 'onnx' estimator; remove it or set estimator to 'onnx'"
    if 2 * options["overlap"] >= options["patch"]:
        return "overlap", f"must be less than half of patch ({options['patch']}), got {options['overlap']}"
    return None


OPTIONS = Section(
    "seamless",
    "Vector-field (elastic) alignment after the affine solve: a displacement field per section, "
    "estimated against its `vote` predecessors, outliers voted out, and applied by render "
    "together with the affine in one resampling. Fields are stored under `<dest>/seamless/`.",
    fields=(
        Field("estimator", "choice", "correlation", choices=("flow", "correlation", "onnx"),
              doc="'flow': multi-scale optical flow on the CPU, no model needed; 'correlation': templates on a grid "
                  "matched by normalized cross-correlation, weak and inconsistent matches dropped, the rest "
                  "interpolated (CPU; measured on real sections in docs/align.md); 'onnx': `model` run with ONNX "
                  "Runtime (CUDA when present)."),
        Field("template", "int", 48, minimum=8, maximum=1024,
              doc="'correlation' only: side of the square templates, in pixels at `mip`; they lie half a template apart."),
        Field("search", "int", 8, minimum=1, maximum=256,
              doc="'correlation' only: how far, in pixels at `mip`, a template is looked for around where the affine puts it."),
        Field("model", "url", None, nullable=True,
              doc="URL of the .onnx model for the 'onnx' estimator: (source, target) patches in, 2-channel pull field out (docs/seamless.md)."),
        Field("mip", "int", 1, minimum=0, maximum=8,
              doc="Fields are estimated and stored at 2**mip frame pixels per sample; render interpolates them."),
        Field("patch", "int", 1024, minimum=16, maximum=8192,
              doc="'onnx' only: side of the square patches the model sees, in pixels at `mip`."),
        Field("overlap", "int", 128, minimum=0,
              doc="'onnx' only: pixels neighbouring patches share and blend across; less than half of `patch`."),
        Field("vote", "int", 3, minimum=1, maximum=5,
              doc="Predecessors each section is compared with (3: z-1, z-2, z-3). With 3 or more a damaged section is outvoted by its neighbours; with 2 it can tie with the one pair bridging it."),
        Field("smoothness", "number", 4.0, minimum=0,
              doc="Weight of the smoothness regulariser on every estimated field, in pixels^2 at `mip` (detail shorter than ~sqrt of it is damped); 0 keeps the estimator's field."),
    ),
    check=_check,
)
