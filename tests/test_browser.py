"""Neuroglancer really shows the pyramid: the URL `emctl view` prints, opened in headless Chromium.

The pipeline runs on a small sample stack; `emctl view DEST --layout xy` runs as a subprocess (as
a user runs it) and its printed URL is loaded unchanged. Once the viewer has been ready for a
second, the screenshot's xy panel is mapped back to voxels from the viewer's own state (the panel
centre is at `position`, one screen pixel spans `crossSectionScale` voxels) and compared with the
section at that z read from the output by an independent reader: CloudVolume for the precomputed
image/, zarr-python for the OME-Zarr copy (`emctl view --ome-zarr`, Neuroglancer's zarr3 source
with the OME 0.5 multiscales).
"""
from __future__ import annotations

import json
import math
import time
import urllib.parse

import numpy as np
import pytest

from emcore import omezarr
from tests.browser import (correlation, data_panels, emctl_view, headless_chromium, missing_browser,
                           wait_ready, xy_panel_sampling)

pytestmark = pytest.mark.browser

SIZE, SECTIONS = 512, 32
MARGIN = 3  # screen pixels dropped at the volume's edges, where Neuroglancer draws its bounding box


@pytest.fixture(scope="module")
def browser():
    """Skips (before the pipeline runs) where Chromium, chromedriver or selenium is missing."""
    reason = missing_browser()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def pyramid_dest(browser, tmp_path_factory):
    from emcore.job import load_job
    from emcore.storage import open_storage
    from orchestrator import engine
    from orchestrator.local import LocalRunner
    from orchestrator.samplestack import write_stack
    root = tmp_path_factory.mktemp("browser")
    write_stack(str(root / "raw"), SIZE, SECTIONS)
    job = load_job({"id": "browser", "source": str(root / "raw"), "maxz": SECTIONS - 1,
                             "dest": str(root / "out"), "stages": {"pyramid": {"ome_zarr": True}}})
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    LocalRunner(job, store, workers=0).run()
    return root / "out"


def precomputed_sections(dest):
    from cloudvolume import CloudVolume
    volume = CloudVolume(f"file://{dest}/image", mip=0, progress=False)
    return lambda z: np.asarray(volume[:, :, z])[:, :, 0, 0]   # (x, y)


def ome_zarr_sections(dest):
    zarr = pytest.importorskip("zarr")
    array = zarr.open_group(str(dest / omezarr.NAME), mode="r")["0"]
    return lambda z: array[z].T                                 # stored (z, y, x)


@pytest.mark.parametrize("layer, view_args, sections", [
    ("image", (), precomputed_sections),
    (omezarr.NAME, ("--ome-zarr",), ome_zarr_sections),
], ids=["precomputed", "ome-zarr"])
def test_neuroglancer_shows_the_section_emctl_view_points_at(pyramid_dest, tmp_path, layer, view_args, sections):
    import cv2

    section_at = sections(pyramid_dest)
    started = time.monotonic()
    with emctl_view(str(pyramid_dest), "--layout", "xy", *view_args) as (_, url), headless_chromium() as driver:
        printed = json.loads(urllib.parse.unquote(url.split("#!", 1)[1]))
        driver.get(url)
        waited = wait_ready(driver, timeout=45)
        state = json.loads(driver.execute_script("return JSON.stringify(viewer.state.toJSON())"))
        panels = data_panels(driver)
        ratio = driver.execute_script("return window.devicePixelRatio")
        status = driver.execute_script(
            "return [...document.querySelectorAll('#neuroglancer-status-container li')]"
            ".filter(e => e.offsetParent !== null && e.textContent).map(e => e.textContent)")
        shot_png = driver.get_screenshot_as_png()
    shot_path = tmp_path / f"neuroglancer-xy-{layer}.png"
    shot_path.write_bytes(shot_png)
    where = f"(screenshot: {shot_path}; ready after {waited:.1f} s)"

    # The viewer kept the view the URL asked for, in one xy panel, with nothing over it.
    assert state["layout"] == "xy" and len(panels) == 1, (state["layout"], panels)
    assert [shown["name"] for shown in state["layers"]] == [layer]
    assert state["position"] == pytest.approx(printed["position"])
    assert state["crossSectionScale"] == pytest.approx(printed["crossSectionScale"])
    assert ratio == 1, f"device pixel ratio {ratio}: the mapping below assumes 1"
    assert not status, f"status messages over the view: {status} {where}"

    shot = cv2.imdecode(np.frombuffer(shot_png, np.uint8), cv2.IMREAD_COLOR).astype(np.int32)
    cols, rows, vx, vy = xy_panel_sampling(panels[0], state["position"], state["crossSectionScale"], (SIZE, SIZE))
    cols, rows, vx, vy = cols[MARGIN:-MARGIN], rows[MARGIN:-MARGIN], vx[MARGIN:-MARGIN], vy[MARGIN:-MARGIN]
    assert len(cols) > 300 and len(rows) > 300, f"the volume covers too little of the panel {where}"
    seen = shot[np.ix_(rows, cols)]
    # Neuroglancer's axis lines are coloured; the layer is drawn in grey.
    grey = np.ptp(seen, axis=2) <= 8
    assert grey.mean() > 0.97, f"only {grey.mean():.1%} of the volume's pixels are grey {where}"
    seen = seen.mean(axis=2)

    z = math.floor(state["position"][2])
    section = section_at(z)                             # (x, y)
    expected = section[np.ix_(vx, vy)].T                # (rows, cols), as on screen
    r = correlation(seen[grey], expected[grey])
    # Controls: the same pixels against the wrong orientation, and against the section 4 away.
    r_transposed = correlation(seen[grey], section.T[np.ix_(vx, vy)].T[grey])
    r_other_z = correlation(seen[grey], section_at(z + 4)[np.ix_(vx, vy)].T[grey])
    print(f"{layer}: xy panel vs z={z}: correlation {r:.4f} (transposed {r_transposed:.3f}, z+4 {r_other_z:.3f}) {where}")
    assert r > 0.9, f"rendered xy panel vs section z={z}: correlation {r:.3f} {where}"
    assert r_transposed < 0.5 and r_other_z < r - 0.2, (r, r_transposed, r_other_z, where)
    assert time.monotonic() - started < 60
