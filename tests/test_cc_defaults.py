"""cc's defaults fit what users bring: `chunk` follows from `block` (a Synaptor config's
`chunkshape: [512, 512, 64]`, its name for `block`, needs no other key), the job as stored states the chunk it ran with,
and a combination that cannot work is refused with values that would, which are then accepted.
End to end, a job with only that block equals cc3d on the whole volume in one piece."""
from __future__ import annotations

import json
import re

import cc3d
import numpy as np
import pytest
from cloudvolume import CloudVolume

from emcore.job import load_job
from emcore.schema import ConfigError
from emtest.cc import RESOLUTION, run_job, write_descriptor


def cc_options(**cc) -> dict:
    job = load_job({"id": "cc", "dest": "/tmp/unused", "stages": {"cc": {"descriptor": "/d/", **cc}}})
    return job.stage("cc")


@pytest.mark.parametrize("block,chunk", [
    ([512, 512, 64], [64, 64, 32]),       # Synaptor's usual
    ([256, 256, 256], [64, 64, 64]),      # the default
    ([128, 128, 16], [64, 64, 8]),
    ([96, 200, 2], [48, 50, 1]),          # sides that are not powers of two
    ([768, 1024, 100], [48, 64, 50]),
])
def test_chunk_follows_from_block(block, chunk):
    assert cc_options(block=block)["chunk"] == chunk
    # The stored job states it, and reloading it keeps it.
    stored = load_job({"id": "cc", "dest": "/tmp/unused",
                                "stages": {"cc": {"descriptor": "/d/", "block": block}}})
    assert json.loads(stored.to_json())["stages"]["cc"]["chunk"] == chunk


@pytest.mark.parametrize("options", [
    {"block": [512, 512, 64], "chunk": [64, 64, 64]},    # one chunk deep: remap would not own scale 1
    {"block": [256, 256, 256], "chunk": [48, 64, 64]},
    {"block": [7, 8, 8], "chunk": [7, 4, 4]},
])
def test_a_combination_that_cannot_work_names_values_that_would(options):
    with pytest.raises(ConfigError) as refused:
        cc_options(**options)
    message = str(refused.value)
    axis = int(re.search(r"block\[(\d)\]", message).group(1))
    chunks = re.search(rf"chunk\[{axis}\] ([\d ors]+) would do", message)
    shapes = re.search(rf"block\[{axis}\] ((?:\d+)(?: or \d+)*)", message.split("would do, or ")[-1])
    assert shapes, message
    suggested = [dict(options, block=_with(options["block"], axis, int(v)))
                 for v in shapes.group(1).split(" or ")]
    if chunks:
        suggested += [dict(options, chunk=_with(options["chunk"], axis, int(v))) for v in chunks.group(1).split(" or ")]
    for fixed in suggested:
        cc_options(**fixed)           # each suggestion is accepted
    # Leaving chunk out works where the message says so (not for an odd block).
    if "leave `chunk` out" in message:
        cc_options(block=options["block"])
    else:
        assert any(side % 2 for side in options["block"])


def test_an_odd_block_names_even_ones():
    with pytest.raises(ConfigError, match=r"block\[1\] \(255\) must be even.* 254 or 256 would do"):
        cc_options(block=[256, 255, 256])
    for side in (254, 256):
        cc_options(block=[256, side, 256])


def test_synaptor_name_is_the_same_key():
    assert cc_options(chunkshape=[128, 128, 16]) == cc_options(block=[128, 128, 16])
    with pytest.raises(ConfigError, match=r"stages\.cc\.chunkshape: is another name for 'block'; give one of them"):
        cc_options(chunkshape=[128, 128, 16], block=[128, 128, 16])


def _with(values, axis, value):
    out = list(values)
    out[axis] = value
    return out


def test_synaptor_chunkshape_alone_equals_cc3d(tmp_path):
    """Only Synaptor's `chunkshape: [512, 512, 64]`: eight tasks' blocks (the volume crosses 512 in x and y
    and 64 in z), objects across every face; the result is cc3d's partition."""
    import cv2
    rng = np.random.default_rng(3)
    shape = (560, 530, 80)
    # Blobs tens of voxels across: a smooth field, drawn coarse, upsampled, thresholded.
    coarse = rng.standard_normal((shape[0] // 8, shape[1] // 8, shape[2] // 4)).astype(np.float32)
    field = np.stack([cv2.resize(cv2.GaussianBlur(coarse[:, :, z], (0, 0), 1.2), (shape[1], shape[0]))
                      for z in range(coarse.shape[2])], axis=-1)
    field = np.repeat(field, 4, axis=2)[:, :, :shape[2]]
    vol = np.clip(128 + 90 * field, 0, 255).astype(np.uint8)
    url = "file://" + str(tmp_path / "clefts")
    write_descriptor(url, vol, "tensorstore", chunk=(64, 64, 16))
    job = load_job({"id": "synaptor", "dest": str(tmp_path / "out"), "resolution": RESOLUTION,
                             "stages": {"cc": {"descriptor": url, "ccthresh": 170, "chunkshape": [512, 512, 64]}}})
    assert job.stage("cc")["block"] == [512, 512, 64] and "chunkshape" not in job.stage("cc")
    store = run_job(job)
    out = CloudVolume(store.url + "segmentation", mip=0, progress=False, fill_missing=True)
    assert list(out.chunk_size) == [64, 64, 32]
    out = out[out.bounds][..., 0]
    ref = cc3d.connected_components(vol > 170, connectivity=26)
    fg = ref > 0
    assert np.array_equal(fg, out > 0)
    pairs = np.unique(np.stack([ref[fg], out[fg]], axis=1), axis=0)
    count = len(np.unique(ref[fg]))
    assert count > 20 and len(pairs) == count == len(np.unique(out[fg])), "not a bijection"
    # Objects cross the block faces at x = 512 and z = 64, so the merge had work to do.
    assert len(np.intersect1d(ref[511], ref[512])) > 1 and len(np.intersect1d(ref[:, :, 63], ref[:, :, 64])) > 1
