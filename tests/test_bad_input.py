"""Bad input through the real CLI: a clear message naming the object or field, only the touched
tasks fail, `emctl status` names them, and `emctl retry` after the fix redoes only them."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from emcore.jobroot import marker_prefix, plan_key
from tests.stacks import smooth_stack, write_pngs

EMCTL = [sys.executable, "-m", "orchestrator.cli.main"]


def emctl(*args):
    return subprocess.run(EMCTL + list(args), capture_output=True, text=True, timeout=300)


def job_file(tmp_path, **overrides):
    config = {"id": "bad", "source": str(tmp_path / "raw"), "maxz": 11, "dest": str(tmp_path / "out"),
              "attempts": 2, "workers": 2, "stages": {"pyramid": {"block": [64, 64, 64], "chunk": [32, 32, 32]}}}
    config.update(overrides)
    path = tmp_path / "job.json"
    path.write_text(json.dumps(config))
    return str(path)


def marker_times(dest):
    out = {}
    for dirpath, _, files in os.walk(os.path.join(dest, marker_prefix("align.render"))):
        for f in files:
            out[f] = json.load(open(os.path.join(dirpath, f)))["started"]
    return out


def test_corrupt_missing_and_mismatched_sections_then_retry(tmp_path):
    stack = smooth_stack(96, 80, 12)
    write_pngs(tmp_path / "raw", stack)
    raw = tmp_path / "raw"
    good_3 = (raw / "img00003.png").read_bytes()
    (raw / "img00003.png").write_bytes(good_3[: len(good_3) // 2])          # truncated upload
    os.remove(raw / "img00005.png")                                          # missing section
    import cv2
    cv2.imwrite(str(raw / "img00007.png"), np.zeros((40, 50), np.uint8))     # another size
    config = job_file(tmp_path)

    run = emctl("start", "--config", config, "--quiet")
    assert run.returncode == 1, run.stderr
    assert "img00003.png cannot be decoded" in run.stderr
    assert "img00005.png does not exist" in run.stderr
    assert "img00007.png is 50x40 pixels but the stack is 96x80" in run.stderr

    status = emctl("status", str(tmp_path / "out"))
    assert status.returncode == 1
    assert "failed" in status.stdout
    failed_lines = [line for line in status.stdout.splitlines() if "align.render task" in line]
    assert sorted(line.split("task ")[1].split()[0] for line in failed_lines) == ["3", "5", "7"]
    assert not os.path.exists(tmp_path / "out" / plan_key("pyramid.0")), "the pyramid waits"
    before = marker_times(tmp_path / "out")
    assert sorted(before) == sorted(f"{z}.json" for z in range(12) if z not in (3, 5, 7))

    (raw / "img00003.png").write_bytes(good_3)
    write_pngs(raw, stack[5:8], first=5)
    retry = emctl("retry", str(tmp_path / "out"), "--quiet")
    assert retry.returncode == 0, retry.stderr
    after = marker_times(tmp_path / "out")
    assert {k: v for k, v in after.items() if k in before} == before, "finished tasks were not redone"
    assert sorted(set(after) - set(before)) == ["3.json", "5.json", "7.json"]
    assert emctl("status", str(tmp_path / "out")).returncode == 0

    from cloudvolume import CloudVolume
    cv = CloudVolume(f"file://{tmp_path}/out/image", mip=0, progress=False)
    got = cv[cv.bounds][..., 0].astype(float)
    want = stack.transpose(2, 1, 0).astype(float)
    assert np.sqrt(np.mean((got - want) ** 2)) < 6


@pytest.mark.parametrize("mutation, field", [
    ({"stages": {"pyramid": {"chunks": [64, 64, 64]}}}, "stages.pyramid.chunks: unknown key (did you mean 'chunk'?)"),
    ({"resolution": [8, 8]}, "resolution: must be a list of 3 values"),
    ({"stages": {"pyramid": {"block": [100, 64, 64]}}}, "stages.pyramid.block: block[0] (100) must be chunk[0] (64) times a power of two"),
    ({"maxz": -1}, "maxz: must be at least 0"),
    ({"source": "ftp://x/"}, "source: unsupported URL scheme 'ftp'"),
    ({"id": "a b"}, "id: must match"),
])
def test_config_errors_name_the_field(tmp_path, mutation, field):
    config = job_file(tmp_path, **mutation)
    for command in (["validate", config], ["start", "--config", config]):
        run = emctl(*command)
        assert run.returncode == 2
        assert field in run.stderr, run.stderr
        assert "Traceback" not in run.stderr


def test_unreadable_destination(tmp_path):
    write_pngs(tmp_path / "raw", smooth_stack(32, 32, 12))
    (tmp_path / "afile").write_text("not a directory")
    run = emctl("start", "--config", job_file(tmp_path, dest=str(tmp_path / "afile" / "out")), "--quiet")
    assert run.returncode == 2
    assert str(tmp_path / "afile") in run.stderr and "Traceback" not in run.stderr


def test_invalid_json_names_the_position(tmp_path):
    path = tmp_path / "job.json"
    path.write_text('{"id": "x",\n "dest": }')
    run = emctl("validate", str(path))
    assert run.returncode == 2 and "line 2" in run.stderr


@pytest.mark.parametrize("kind", ["gray8", "gray16", "gray_rgb8"])
def test_sections_decode_as_opencv_reads_them(kind):
    """Either decoder (libspng for 8-bit grayscale, OpenCV otherwise) gives the pixels OpenCV
    reads (an RGB PNG whose pixels are all grey reads as that grey); a truncated file of each
    kind is refused naming the section."""
    import cv2
    from emcore.images import decode_png
    from emcore.stage import TaskError
    rng = np.random.default_rng(5)
    image = {"gray8": rng.integers(0, 256, (37, 53), dtype=np.uint8),
             "gray16": rng.integers(0, 65536, (37, 53), dtype=np.uint16),
             "gray_rgb8": np.repeat(rng.integers(0, 256, (37, 53, 1), dtype=np.uint8), 3, axis=2)}[kind]
    data = cv2.imencode(".png", image)[1].tobytes()
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if kind == "gray_rgb8":
        expected = expected[..., 0]
    decoded = decode_png(data, "s.png")
    assert decoded.dtype == expected.dtype and np.array_equal(decoded, expected)
    with pytest.raises(TaskError, match="s.png cannot be decoded"):
        decode_png(data[: len(data) // 2], "s.png")
