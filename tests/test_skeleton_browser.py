"""Neuroglancer draws the skeletons: a tube skeletonized by the skeleton stage, served by `emctl
view`'s server, opened in headless Chromium with its segment selected in a 3-D panel. The panel,
blank with nothing selected, must show a line along the tube where its skeleton is."""
from __future__ import annotations

import json

import numpy as np
import pytest

from emtest.mesh_data import write_segmentation
from emtest.skeletons import run_skeleton_job, tubes
from tests.browser import headless_chromium, missing_browser, wait_ready

pytestmark = pytest.mark.browser
RES = (8, 8, 8)


@pytest.fixture(scope="module")
def skeletonized(tmp_path_factory):
    reason = missing_browser()
    if reason:
        pytest.skip(reason)
    dest = tmp_path_factory.mktemp("skeleton-browser")
    labels = tubes((128, 64, 32), {0: [(32, 16)]}, radius=4, seed=0)     # one tube along x, a branch up
    write_segmentation(str(dest / "segmentation"), labels, RES, chunk=(32, 32, 32))
    run_skeleton_job(dest, {"block": [32, 32, 32]}, RES)
    return dest


def screenshot_3d(store, segments):
    import cv2
    from orchestrator.viewer import ViewerServer, viewer_state, viewer_url
    server = ViewerServer(store).start_background()
    try:
        state = viewer_state(store, server.base_url, "3d")
        for layer in state["layers"]:
            layer["segments"] = segments
        state.update(showAxisLines=False, showDefaultAnnotations=False, showSlices=False, projectionScale=160)
        with headless_chromium() as driver:
            driver.get(viewer_url(server.base_url, state))
            waited = wait_ready(driver, timeout=60)
            shown = json.loads(driver.execute_script("return JSON.stringify(viewer.state.toJSON())"))
            png = driver.get_screenshot_as_png()
    finally:
        server.close()
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), shown, waited


def test_neuroglancer_draws_the_selected_skeleton(skeletonized, tmp_path):
    from emcore.storage import open_storage
    store = open_storage(str(skeletonized))
    empty, _, _ = screenshot_3d(store, [])
    drawn, state, waited = screenshot_3d(store, ["1"])
    (tmp_path / "skeleton-3d.png").write_bytes(__import__("cv2").imencode(".png", drawn)[1].tobytes())
    assert [layer["segments"] for layer in state["layers"]] == [["1"]]
    changed = np.abs(drawn.astype(int) - empty.astype(int)).max(axis=2) > 40
    ys, xs = np.nonzero(changed)
    height, width = changed.shape
    # A line, not a surface: few pixels, but spanning the tube's length (128 voxels of the panel's 160).
    assert 0 < changed.mean() < 0.05, f"{changed.mean():.4f} of the window changed (ready after {waited:.1f} s; {tmp_path / 'skeleton-3d.png'})"
    assert xs.max() - xs.min() > 0.4 * width, f"drawn across {xs.max() - xs.min()} of {width} px ({tmp_path / 'skeleton-3d.png'})"
