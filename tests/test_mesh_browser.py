"""Neuroglancer draws the meshes: a segmentation meshed by the mesh stage, served by `emctl view`'s
server, opened in headless Chromium with one segment selected in a 3-D panel. The viewer must
report ready (it never does while a selected segment's mesh cannot be loaded) and the panel, blank
with nothing selected, must show the object where its mesh is."""
from __future__ import annotations

import json

import numpy as np
import pytest

from emtest.mesh_data import spheres, write_segmentation
from tests.browser import headless_chromium, missing_browser, wait_ready
from emtest.mesh import run_mesh_job

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def meshed(tmp_path_factory):
    reason = missing_browser()
    if reason:
        pytest.skip(reason)
    dest = tmp_path_factory.mktemp("mesh-browser")
    labels = spheres((96, 96, 48), [(48, 48, 24), (80, 20, 10)], [20, 8], ids=[7, 9])
    write_segmentation(str(dest / "segmentation"), labels, (8, 8, 16), chunk=(32, 32, 32))
    run_mesh_job(dest, {"block": [32, 32, 32], "lods": 2}, (8, 8, 16))
    return dest


def screenshot_3d(store, segments):
    import cv2
    from orchestrator.viewer import ViewerServer, viewer_state, viewer_url
    server = ViewerServer(store).start_background()
    try:
        state = viewer_state(store, server.base_url, "3d")
        for layer in state["layers"]:
            layer["segments"] = segments
        state.update(showAxisLines=False, showDefaultAnnotations=False, showSlices=False,
                     projectionScale=120, projectionOrientation=[0.3, 0.2, 0.1, 0.93])
        with headless_chromium() as driver:
            driver.get(viewer_url(server.base_url, state))
            waited = wait_ready(driver, timeout=60)
            shown = json.loads(driver.execute_script("return JSON.stringify(viewer.state.toJSON())"))
            png = driver.get_screenshot_as_png()
    finally:
        server.close()
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    return image, shown, waited


def test_neuroglancer_draws_the_selected_segment(meshed, tmp_path):
    from emcore.storage import open_storage
    store = open_storage(str(meshed))
    empty, _, _ = screenshot_3d(store, [])
    drawn, state, waited = screenshot_3d(store, ["7"])
    (tmp_path / "mesh-3d.png").write_bytes(__import__("cv2").imencode(".png", drawn)[1].tobytes())
    assert [layer["segments"] for layer in state["layers"]] == [["7"]]
    changed = np.abs(drawn.astype(int) - empty.astype(int)).max(axis=2) > 40
    # The ball (40 voxels of 8 nm across; the panel 120 voxels high) covers a good part of the
    # window; the unselected view has no mesh at all.
    fraction = changed.mean()
    assert 0.01 < fraction < 0.5, f"{fraction:.4f} of the window changed (ready after {waited:.1f} s; {tmp_path / 'mesh-3d.png'})"
    ys, xs = np.nonzero(changed)
    height, width = changed.shape
    assert abs(xs.mean() / width - 0.5) < 0.25 and abs(ys.mean() / height - 0.5) < 0.25   # centred on the ball
