"""`make demo`'s program on a smaller sample, as a user runs it: every stage runs, the end of its
output says what each stage wrote, and the `emctl view` it points to shows, in a real browser,
the image, the segmentation and meshes.

The browser part loads the URL `emctl view` prints with an xy panel beside a 3-D one, and checks
each layer against the data read back by CloudVolume: grey pixels (no segment) follow the image,
coloured pixels are where the segmentation has a segment, and the 3-D panel differs from the
same view with no segment selected (a mesh is drawn)."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import urllib.parse

import numpy as np
import pytest
from cloudvolume import CloudVolume

from tests.browser import (correlation, data_panels, emctl_view, headless_chromium, missing_browser,
                           wait_ready, xy_panel_sampling)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE, SECTIONS = 384, 24


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's directory and everything it printed (stdout and stderr, to a file as in CI)."""
    directory = tmp_path_factory.mktemp("demo")
    log = directory / "demo.log"
    with open(log, "w") as out:
        code = subprocess.run([sys.executable, "-m", "orchestrator.demo", str(directory), "--size", str(SIZE),
                               "--sections", str(SECTIONS)], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                              timeout=600).returncode
    assert code == 0, log.read_text()
    return directory, log.read_text()


def test_the_demo_ends_with_what_each_stage_wrote(demo):
    directory, printed = demo
    summary = printed[printed.index("What each stage wrote"):]
    for output in ("align/transforms.json", "image/", "image_raw/", "segmentation/", "segments.csv",
                   "segmentation/mesh/", "segmentation/skeletons/"):
        assert f"\n  {output} " in summary, (output, summary)
    segments = len((directory / "out" / "segments.csv").read_text().splitlines()) - 1
    assert f"{segments} segments" in summary and f"of {segments} of {segments} segments" in summary
    assert "every section placed by its pairs" in summary, "the sample aligns"
    assert f"emctl view {directory / 'out'}" in summary
    assert "\r" not in printed, "progress in a log is line-oriented"


@pytest.mark.browser
def test_neuroglancer_shows_image_segmentation_and_meshes(demo, tmp_path):
    import cv2
    reason = missing_browser()
    if reason:
        pytest.skip(reason)
    out = demo[0] / "out"
    with emctl_view(str(out), "--layout", "xy-3d") as (_, url), headless_chromium() as driver:
        state = json.loads(urllib.parse.unquote(url.split("#!", 1)[1]))
        shots = []
        for selected in (True, False):
            if not selected:    # the same view with no segment selected: no mesh
                for layer in state["layers"]:
                    layer.pop("segments", None)
                driver.get(url.split("#!", 1)[0] + "#!" + urllib.parse.quote(json.dumps(state)))
            else:
                driver.get(url)
            waited = wait_ready(driver, timeout=60)
            shown = json.loads(driver.execute_script("return JSON.stringify(viewer.state.toJSON())"))
            png = driver.get_screenshot_as_png()
            (tmp_path / f"demo-{selected}.png").write_bytes(png)
            shots.append(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR).astype(np.int32))
            if selected:
                panels, view = sorted(data_panels(driver)), shown
            else:
                assert not shown["layers"][1].get("segments"), shown["layers"][1]
    where = f"(screenshots under {tmp_path}, ready after {waited:.1f} s)"
    assert [layer["type"] for layer in view["layers"]] == ["image", "segmentation"], where
    segments = view["layers"][1]["segments"]
    assert len(segments) >= 3, where

    xy, three_d = panels[0], panels[-1]        # left to right
    image = CloudVolume(f"file://{out}/image", mip=0, progress=False)
    size = image.shape[:2]
    cols, rows, vx, vy = xy_panel_sampling(xy, view["position"], view["crossSectionScale"], size)
    cols, rows, vx, vy = cols[3:-3], rows[3:-3], vx[3:-3], vy[3:-3]
    seen = shots[0][np.ix_(rows, cols)]
    z = math.floor(view["position"][2])
    section = np.asarray(image[:, :, z])[:, :, 0, 0][np.ix_(vx, vy)].T
    # The segmentation is at 8 nm: image voxel v lies in segmentation voxel v // 2.
    labels = np.asarray(CloudVolume(f"file://{out}/segmentation", mip=0, progress=False,
                                    fill_missing=True)[:, :, z])[:, :, 0, 0]
    segment = labels[np.ix_(vx // 2, vy // 2)].T > 0
    colour = np.ptp(seen, axis=2)
    r_segmentation = correlation(colour, segment)
    grey = ~segment & (colour < 8)
    r_image = correlation(seen[grey].mean(axis=1), section[grey])
    print(f"colour vs segment {r_segmentation:.3f}, grey vs image {r_image:.3f} {where}")
    assert 0.3 < segment.mean() < 0.95 and grey.sum() > 1000, where
    assert r_segmentation > 0.6, where
    assert r_image > 0.8, where

    left, top, width, height = (int(v) for v in three_d)
    drawn, empty = (shot[top:top + height, left:left + width] for shot in shots)
    changed = (np.abs(drawn - empty).max(axis=2) > 40).mean()
    print(f"{changed:.3f} of the 3-D panel changed by the meshes")
    assert changed > 0.05, f"{changed:.3f} of the 3-D panel differs with the meshes drawn {where}"


def test_the_readme_reads_every_output(demo):
    """The README's "Reading the outputs" code, run on the demo's output: CloudVolume and
    TensorStore read the same image and segmentation, and the mesh and transforms are there."""
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    section = readme[readme.index("## Reading the outputs"):readme.index("## In the cloud")]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 3, "a CloudVolume, an OME-Zarr and a TensorStore example"
    names: dict = {}
    for code in blocks:
        exec(code.replace('dest = "demo-data/out"', f'dest = "{demo[0] / "out"}"'), names)
    assert names["section"].shape == names["section_ts"].shape and np.array_equal(names["section"], names["section_ts"])
    # The OME-Zarr copy holds the lossless values (image_raw/'s), z, y, x.
    lossless = CloudVolume(f"file://{demo[0] / 'out'}/image_raw", mip=0, progress=False)[:, :, 10][:, :, 0, 0]
    assert np.array_equal(names["section_zarr"].T, lossless)
    assert np.array_equal(names["labels"], names["labels_ts"]) and names["labels"].max() > 0
    (mesh,) = names["mesh"].values()
    # A real surface: every edge shared by exactly two triangles (closed), with extent in x, y and z.
    edges = np.sort(np.concatenate([mesh.faces[:, [0, 1]], mesh.faces[:, [1, 2]], mesh.faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert len(mesh.faces) >= 4 and (counts == 2).all()
    assert (np.ptp(mesh.vertices, axis=0) > 0).all()
    assert len(names["transforms"]["sections"]) == SECTIONS


def test_the_real_demo_aligns_and_keeps_the_annotations_on_the_tissue(tmp_path):
    """`make demo REAL=1`: the real sections aligned, the mitochondria annotations rendered with
    the same transforms, labelled, meshed and skeletonized. Mitochondria are dark in TEM: the
    image under the segmentation is darker than elsewhere, and darker than under the annotations
    pasted where they were drawn (on the sections as published, which the alignment moved)."""
    import glob

    import cv2
    from cloudvolume import CloudVolume
    from emtest import realdata
    if not realdata.present():
        pytest.skip(realdata.MISSING)
    done = subprocess.run([sys.executable, "-m", "orchestrator.demo", str(tmp_path), "--real"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = done.stdout[done.stdout.index("What each stage wrote"):]
    assert "transforms adopted from" in summary
    for output in ("segmentation/mesh/", "segmentation/skeletons/"):
        assert f"\n  {output} " in summary, (output, summary)
    out = tmp_path / "real" / "out"
    segmentation = CloudVolume(f"file://{out}/segmentation", mip=0, fill_missing=True, progress=False)[:][..., 0]
    depth = segmentation.shape[2]
    image = CloudVolume(f"file://{out}/image", mip=0, progress=False)[:, :, :depth][..., 0].astype(np.float64)
    drawn = np.stack([cv2.imread(f, cv2.IMREAD_GRAYSCALE).T > 127
                      for f in sorted(glob.glob(str(realdata.SSTEM / "mitochondria" / "*.png")))], -1)
    pasted = np.zeros(segmentation.shape, bool)
    w, h = min(drawn.shape[0], pasted.shape[0]), min(drawn.shape[1], pasted.shape[1])
    pasted[:w, :h] = drawn[:w, :h, :depth]
    under, elsewhere = image[segmentation > 0].mean(), image[(segmentation == 0) & (image > 0)].mean()
    assert under < elsewhere - 20, (under, elsewhere)
    assert under < image[pasted].mean(), (under, image[pasted].mean())
