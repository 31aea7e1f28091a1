"""Seconds per section pair for the seamless estimators at 2048 x 2048 (not a test):

    .venv/bin/python -m bench.seamless [--quick]

A pair of EM-like sections (orchestrator/samplestack.py tissue, the second warped by a smooth
field of a few pixels) goes through what one pairs task does per neighbour: shrink to the mip,
estimate, regularise. Estimators: patch correlation and optical flow on the CPU (no model), and ONNX Runtime on the CPU
with a small convolutional model built here (3 layers, 2 -> 16 -> 16 -> 2 channels, 3x3), run
over 1024-pixel patches with 128 of overlap (at mip 0 that is 9 patches of a 2048 section).
For scale, render's cost with a field (one remap) against the affine alone (warpAffine).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gpu-jobs"))

SIZE = 2048


def sections(size: int):
    import cv2
    from orchestrator.samplestack import tissue_sections
    pad = 16
    a, b = (np.clip(t * 255, 0, 255).astype(np.uint8) for t in tissue_sections(size + 2 * pad, 2, seed=7))
    rng = np.random.default_rng(0)
    coarse = rng.standard_normal((6, 6, 2)).astype(np.float32)
    warp = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC) * 3.0 / np.abs(coarse).max()
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    warped = cv2.remap(b, x + pad + warp[..., 0], y + pad + warp[..., 1], cv2.INTER_LINEAR)
    return a[pad:pad + size, pad:pad + size].copy(), warped


def conv_model() -> bytes:
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    shapes = [(16, 2), (16, 16), (2, 16)]
    inits, nodes, last = [], [], "pair"
    for i, (out, inp) in enumerate(shapes):
        inits += [numpy_helper.from_array(rng.normal(0, 0.1, (out, inp, 3, 3)).astype(np.float32), f"w{i}"),
                  numpy_helper.from_array(np.zeros(out, np.float32), f"b{i}")]
        nodes.append(helper.make_node("Conv", [last, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1]))
        last = f"c{i}"
        if i < len(shapes) - 1:
            nodes.append(helper.make_node("Relu", [last], [f"r{i}"]))
            last = f"r{i}"
    nodes.append(helper.make_node("Identity", [last], ["field"]))
    graph = helper.make_graph(nodes, "bench", [helper.make_tensor_value_info("pair", TensorProto.FLOAT, ["N", 2, "H", "W"])],
                              [helper.make_tensor_value_info("field", TensorProto.FLOAT, ["N", 2, "H", "W"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def timed(fn, repeats: int) -> float:
    fn()                                   # warm-up: imports, session initialisation, caches
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one repetition, mips 1 and 2 only")
    args = parser.parse_args(argv)
    import cv2
    from emcore import fields
    from seamless import flow
    from seamless.correlation import CorrelationEstimator
    from seamless.onnx_model import OnnxEstimator
    from seamless.stage import shrink_into_frame
    repeats = 1 if args.quick else 3
    mips = (1, 2) if args.quick else (0, 1, 2)
    a, b = sections(SIZE)
    identity = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    print(f"seamless: seconds per section pair, {SIZE}x{SIZE} sections, best of {repeats}, "
          f"{os.cpu_count()} cores; onnxruntime providers: {', '.join(__import__('onnxruntime').get_available_providers())}")
    onnx = OnnxEstimator.from_bytes(conv_model(), 1024, 128)
    rows = []
    for mip in mips:
        grid = fields.grid_shape(SIZE, SIZE, mip)
        small = [shrink_into_frame(im, identity, mip, grid) for im in (a, b)]
        shrink = timed(lambda: shrink_into_frame(a, identity, mip, grid), repeats)
        estimate = {
            "correlation (CPU, default)": lambda: flow.smooth(CorrelationEstimator()(*small), 4.0),
            "flow (CPU, no model)": lambda: flow.smooth(flow.FlowEstimator()(*small), 4.0),
            "onnx (CPU, 3-layer conv)": lambda: flow.smooth(onnx(*small), 4.0),
        }
        for name, fn in estimate.items():
            seconds = timed(fn, repeats)
            rows.append((mip, name, seconds, shrink))
            print(f"  mip {mip} ({grid[1]}x{grid[0]} grid)  {name:26s} {seconds:7.3f} s/pair "
                  f"(+ {shrink:.3f} s to shrink and place each section once)", flush=True)
    field = flow.FlowEstimator()(*[shrink_into_frame(im, identity, 2, fields.grid_shape(SIZE, SIZE, 2)) for im in (a, b)]) * 4
    affine = np.array([[1.0, 0.001, 3.0], [-0.001, 1.0, -2.0]])
    warp = timed(lambda: cv2.warpAffine(a, affine, (SIZE, SIZE), flags=cv2.INTER_LINEAR), repeats)
    render = timed(lambda: fields.warp_with_field(a, affine, field, (SIZE, SIZE), 2), repeats)
    print(f"  render one section: affine only {warp:.3f} s, affine + field (mip 2) {render:.3f} s "
          f"(x{render / warp:.1f})")


if __name__ == "__main__":
    main()
