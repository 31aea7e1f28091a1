"""Neuroglancer shows the cc stage's segmentation: a job with pyramid and cc on a sample stack,
`emctl view DEST --layout xy` as a subprocess, its URL in headless Chromium. Segments are drawn in
colour over the grey image, so the coloured pixels of the xy panel must be where the segmentation
(read by CloudVolume) has a segment, and the segment properties must be loaded."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.browser import (correlation, data_panels, emctl_view, headless_chromium, missing_browser,
                           wait_ready, xy_panel_sampling)

pytestmark = pytest.mark.browser
SIZE, SECTIONS = 256, 16


@pytest.fixture(scope="module")
def segmented(tmp_path_factory):
    reason = missing_browser()
    if reason:
        pytest.skip(reason)
    from emcore.job import load_job
    from emcore.storage import open_storage
    from orchestrator import engine
    from orchestrator.local import LocalRunner
    from orchestrator.samplestack import write_stack
    root = tmp_path_factory.mktemp("segmentation-browser")
    write_stack(str(root / "raw"), SIZE, SECTIONS)
    job = load_job({
        "id": "seg", "source": str(root / "raw"), "maxz": SECTIONS - 1, "dest": str(root / "out"),
        "stages": {"pyramid": {"raw": True},
                   # Cell interiors are bright, membranes dark: the components are the cells.
                   "cc": {"descriptor": "<dest>/image_raw/", "ccthresh": 120, "connectivity": 6,
                          "block": [128, 128, 64], "chunk": [64, 64, 32], "szthresh": 50}}})
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    LocalRunner(job, store, workers=0).run()
    return root / "out"


def test_segments_are_drawn_where_the_segmentation_has_them(segmented, tmp_path):
    import cv2
    from cloudvolume import CloudVolume
    with emctl_view(str(segmented), "--layout", "xy") as (_, url), headless_chromium() as driver:
        driver.get(url)
        waited = wait_ready(driver, timeout=45)
        state = json.loads(driver.execute_script("return JSON.stringify(viewer.state.toJSON())"))
        panels = data_panels(driver)
        png = driver.get_screenshot_as_png()
    (tmp_path / "segmentation-xy.png").write_bytes(png)
    where = f"(screenshot {tmp_path / 'segmentation-xy.png'}, ready after {waited:.1f} s)"
    assert [layer["type"] for layer in state["layers"]] == ["image", "segmentation"], where

    shot = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR).astype(np.int32)
    cols, rows, vx, vy = xy_panel_sampling(panels[0], state["position"], state["crossSectionScale"], (SIZE, SIZE))
    cols, rows, vx, vy = cols[3:-3], rows[3:-3], vx[3:-3], vy[3:-3]
    colour = np.ptp(shot[np.ix_(rows, cols)], axis=2)          # 0 on grey image pixels
    z = math.floor(state["position"][2])
    labels = np.asarray(CloudVolume(f"file://{segmented}/segmentation", mip=0, progress=False)[:, :, z])[:, :, 0, 0]
    segment = (labels[np.ix_(vx, vy)].T > 0)
    assert 0.2 < segment.mean() < 0.95, segment.mean()
    r = correlation(colour.astype(float), segment.astype(float))
    print(f"coloured pixels vs segmented voxels at z={z}: correlation {r:.3f} {where}")
    assert r > 0.6, f"correlation {r:.3f} {where}"

    info = json.loads((segmented / "segmentation" / "info").read_text())
    properties = json.loads((segmented / "segmentation" / info["segment_properties"] / "info").read_text())
    # Every segment on screen has its properties (size) for the viewer to show.
    assert {int(i) for i in np.unique(labels[labels > 0])} <= {int(i) for i in properties["inline"]["ids"]}
