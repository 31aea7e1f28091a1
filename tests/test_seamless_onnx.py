"""The ONNX estimator with models built here with onnx.helper: patching and blending leave no
seams (the blended field equals the model run on the whole image), the model contract's variants
(two inputs, channels-last output, normalised units, fixed shapes), and a user model run through
the stage's waves, from the model's URL to the stored and voted fields."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import correlate


onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper

from seamless import patches
from seamless.onnx_model import OnnxEstimator

RADIUS = 2   # 5x5 convolutions: a patch border disturbs the 2 pixels next to it


def serialize(graph) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8                 # readable by any recent ONNX Runtime
    onnx.checker.check_model(model)
    return model.SerializeToString()


def conv_model(weights: np.ndarray, bias: np.ndarray) -> bytes:
    """(N, 2, H, W) source+target -> (N, 2, H, W) field: one zero-padded convolution, i.e. a
    field computed from the inputs that a numpy correlation reproduces exactly."""
    pair = helper.make_tensor_value_info("pair", TensorProto.FLOAT, ["N", 2, "H", "W"])
    field = helper.make_tensor_value_info("field", TensorProto.FLOAT, ["N", 2, "H", "W"])
    node = helper.make_node("Conv", ["pair", "W", "B"], ["field"], pads=[RADIUS] * 4)
    return serialize(helper.make_graph([node], "known-field", [pair], [field],
                                       [numpy_helper.from_array(weights.astype(np.float32), "W"),
                                        numpy_helper.from_array(bias.astype(np.float32), "B")]))


def known_field(weights, bias, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """What conv_model computes, on whole images (rows, cols, 2)."""
    x = [source.astype(np.float32) / 255, target.astype(np.float32) / 255]
    return np.stack([sum(correlate(x[i], weights[o, i].astype(np.float32), mode="constant") for i in range(2)) + bias[o]
                     for o in range(2)], axis=-1)


def images(rows=150, cols=200, seed=0):
    rng = np.random.default_rng(seed)
    return tuple((rng.random((rows, cols)) * 255).astype(np.uint8) for _ in range(2))


def weights(seed=1, antisymmetric=False):
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.3, (2, 2, 5, 5))
    if antisymmetric:                    # field = G(source) - G(target): pair fields that add up
        w[:, 1] = -w[:, 0]
    return w, rng.normal(0, 0.5, 2)


def test_blended_patches_equal_the_model_on_the_whole_image():
    w, b = weights()
    source, target = images()
    expected = known_field(w, b, source, target)
    patch, overlap = 48, 16
    blended = OnnxEstimator.from_bytes(conv_model(w, b), patch, overlap)(source, target)
    error = np.abs(blended - expected)
    edge = RADIUS + 1                    # the image's far edges are reflected, not zero-padded
    interior = error[:-edge, :-edge]
    starts, _ = patches.layout(source.shape[0], patch, overlap)
    borders = sorted({a for a in starts[1:]} | {a + patch for a in starts[:-1]})
    at_borders = np.concatenate([error[max(0, r - RADIUS):r + RADIUS, :-edge].ravel() for r in borders
                                 if r < source.shape[0] - edge])
    assert interior.max() < 1e-4
    assert at_borders.max() < 1e-4, "patch borders add error"
    # The same model tiled without overlap shows the seams this test would catch.
    naive = OnnxEstimator.from_bytes(conv_model(w, b), patch, 0)
    naive_error = np.abs(naive(source, target) - expected)[:-edge, :-edge]
    assert naive_error.max() > 0.05


def test_two_inputs_channels_last_normalised_units_and_fixed_shapes():
    """A model with (source, target) inputs of a fixed 32x32 size, an (N, H, W, 2) output in
    grid_sample's units (-1..1 across the patch): field = (0.1 * source, -0.05 * target)."""
    size = 32
    src = helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 1, size, size])
    tgt = helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 1, size, size])
    out = helper.make_tensor_value_info("field", TensorProto.FLOAT, [1, size, size, 2])
    nodes = [helper.make_node("Mul", ["source", "a"], ["x"]), helper.make_node("Mul", ["target", "b"], ["y"]),
             helper.make_node("Concat", ["x", "y"], ["xy"], axis=1),
             helper.make_node("Transpose", ["xy"], ["field"], perm=[0, 2, 3, 1])]
    graph = helper.make_graph(nodes, "normalised", [src, tgt], [out],
                              [numpy_helper.from_array(np.array(0.1, np.float32), "a"),
                               numpy_helper.from_array(np.array(-0.05, np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"displacement_units": "normalized"})
    estimator = OnnxEstimator.from_bytes(model.SerializeToString(), patch=999, overlap=8)
    assert (estimator.patch, estimator.batch, estimator.normalized) == (size, 1, True)
    source, target = images(70, 90, seed=3)
    field = estimator(source, target)
    half = size / 2                       # normalised -> pixels
    assert np.allclose(field[..., 0], 0.1 * source / 255 * half, atol=1e-5)
    assert np.allclose(field[..., 1], -0.05 * target / 255 * half, atol=1e-5)


def test_a_user_model_through_the_stage(tmp_path):
    """The model's URL in job.json, the pairs wave running it through patches at mip 1, the
    stored pair fields equal to the known field (in scale-0 pixels), and the voted fields adding
    up to them: the model here gives consistent fields P(z, w) = G(z) - G(w)."""
    from test_seamless_stacks import make_stack, run_waves, write_job
    from emcore import fieldstore as volumes
    w, b = weights(seed=4, antisymmetric=True)
    b[:] = 0.0
    stack = make_stack(size=192, sections=4, seed=5)
    root = f"file://{tmp_path}/job/"
    from emcore.storage import open_storage
    open_storage(root).write("models/known.onnx", conv_model(w * 12, b))
    job, store = write_job(stack, root, estimator="onnx", model=root + "models/known.onnx", mip=1,
                           patch=32, overlap=8, vote=2, smoothness=0)
    summaries = run_waves(job, store)
    assert {p["estimator"] for p in summaries["pairs"] if "estimator" in p} == {"CPUExecutionProvider"}
    imgs = volumes.open_volume(store, volumes.IMAGES)
    pairs = volumes.open_volume(store, volumes.PAIRS)
    final = volumes.open_volume(store, volumes.FIELD)
    section = {z: volumes.read_slice(imgs, job, z)[:, :, 0] for z in range(4)}
    voted = {z: volumes.read_slice(final, job, z) for z in range(4)}
    e = 6                                   # away from the volume's edge (and its empty margins)
    for z in range(1, 4):
        stored = volumes.read_slice(pairs, job, z)
        for k in (1, 2):
            if z - k < 0:
                assert np.isnan(stored[..., 2 * (k - 1):2 * k]).all()
                continue
            expected = known_field(w * 12, b, section[z], section[z - k]) * 2      # mip 1: x2 pixels
            got = stored[..., 2 * (k - 1):2 * k]
            assert np.abs(got - expected)[e:-e, e:-e].max() < 1e-4        # measured 1e-5
            # the voted fields add up to the pair fields, up to the prior's pull toward the affine
            difference = (voted[z] - voted[z - k])[e:-e, e:-e]
            rms = np.sqrt(np.mean(expected[e:-e, e:-e] ** 2))
            assert rms > 1.0
            assert np.sqrt(np.mean((difference - expected[e:-e, e:-e]) ** 2)) < 0.04 * rms   # measured 1.2-1.7%
