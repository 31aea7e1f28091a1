"""The ONNX estimator: a user's model run with ONNX Runtime, on CUDA when the runtime has it (the
GPU image installs onnxruntime-gpu) and on the CPU otherwise, over overlapping patches blended
without seams (patches.py).

The model contract (docs/seamless.md):
  inputs   either one tensor (N, 2, H, W) holding source and target as channels 0 and 1, or two
           tensors (N, 1, H, W), source first; float32 (or float16) in [0, 1]
  output   the first output, (N, 2, H, W) or (N, H, W, 2): the pull field, x then y, with
           source(p + d(p)) ~ target(p), in patch pixels, or in grid_sample's normalised units
           (-1..1 across the patch) when the model's metadata says `displacement_units=normalized`
Fixed spatial dimensions in the model override the `patch` option; a fixed batch dimension sets
the batch size.
"""
from __future__ import annotations

import functools
import logging

import numpy as np

from seamless import patches

log = logging.getLogger("emctl")

BATCH = 4


def providers() -> list[str]:
    """CUDA first when this onnxruntime build has it (it falls back to the CPU by itself when a
    CUDA build finds no usable GPU)."""
    import onnxruntime as ort
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def read_model(url: str) -> bytes:
    from emcore.stage import TaskError
    from emcore.storage import NotFound, open_storage
    url = url.rstrip("/")
    parent, _, name = url.rpartition("/")
    try:
        return open_storage(parent + "/").read(name)
    except NotFound:
        raise TaskError(f"ONNX model {url} does not exist (stages.seamless.model)") from None


class OnnxEstimator:
    name = "onnx"

    def __init__(self, session, patch: int, overlap: int):
        self.session = session
        inputs = session.get_inputs()
        if len(inputs) not in (1, 2):
            raise ValueError(f"the model has {len(inputs)} inputs; expected (source+target) or (source, target)")
        self.inputs = [i.name for i in inputs]
        self.dtype = np.float16 if inputs[0].type == "tensor(float16)" else np.float32
        shape = inputs[0].shape
        fixed = [d for d in shape[2:4] if isinstance(d, int)]
        self.fixed = len(fixed) == 2 and fixed[0] == fixed[1]
        self.patch = fixed[0] if self.fixed else patch
        self.overlap = min(overlap, (self.patch - 1) // 2)
        self.batch = shape[0] if isinstance(shape[0], int) else BATCH
        meta = session.get_modelmeta().custom_metadata_map
        self.normalized = meta.get("displacement_units", "pixels") == "normalized"
        self.provider = session.get_providers()[0]
        if self.patch != patch:
            log.info("model has fixed %dx%d inputs: patch %d ignored", self.patch, self.patch, patch)

    @classmethod
    def for_url(cls, url: str, patch: int, overlap: int) -> "OnnxEstimator":
        return _cached(url, patch, overlap)

    @classmethod
    def from_bytes(cls, model: bytes, patch: int, overlap: int) -> "OnnxEstimator":
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.log_severity_level = 3          # ORT warns about every unused initializer otherwise
        return cls(ort.InferenceSession(model, options, providers=providers()), patch, overlap)

    def __call__(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        # A model that takes any size sees an image smaller than a patch whole, not padded.
        patch = self.patch if self.fixed else min(self.patch, max(source.shape))
        overlap = min(self.overlap, (patch - 1) // 2)
        return patches.blend((_unit(source), _unit(target)), patch, overlap,
                             functools.partial(self._run, patch=patch), batch=self.batch)

    def _run(self, batch: list[tuple[np.ndarray, np.ndarray]], patch: int) -> list[np.ndarray]:
        src = np.stack([s for s, _ in batch])[:, None].astype(self.dtype)
        tgt = np.stack([t for _, t in batch])[:, None].astype(self.dtype)
        if len(self.inputs) == 1:
            feeds = {self.inputs[0]: np.concatenate([src, tgt], axis=1)}
        else:
            feeds = {self.inputs[0]: src, self.inputs[1]: tgt}
        out = np.asarray(self.session.run(None, feeds)[0], np.float32)
        if out.ndim != 4 or 2 not in (out.shape[1], out.shape[3]):
            raise ValueError(f"the model's output has shape {out.shape}; expected (N, 2, H, W) or (N, H, W, 2)")
        if out.shape[1] == 2:
            out = out.transpose(0, 2, 3, 1)
        if self.normalized:                     # grid_sample, align_corners=False: 2 units per patch
            out = out * (patch / 2.0)
        return list(out)


@functools.lru_cache(maxsize=2)
def _cached(url: str, patch: int, overlap: int) -> OnnxEstimator:
    return OnnxEstimator.from_bytes(read_model(url), patch, overlap)


def _unit(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    return np.asarray(image, np.float32)
