"""Headless Chromium for tests: find it (or say why not), drive Neuroglancer, map its xy panel
back to voxels.

Flags and the readiness rule are those of the field notes ("Neuroglancer in a real browser"):
Debian's `chromium` and `chromium-driver`, SwiftShader for WebGL, a fresh profile, and
`window.viewer.isReady()` held true for a second before anything is read off the screen.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

WINDOW = (1280, 800)
CHROME_FLAGS = (
    "--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
    f"--window-size={WINDOW[0]},{WINDOW[1]}", "--force-device-scale-factor=1",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
)


def missing_browser() -> str | None:
    """Why a browser test cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        return "chromium is not installed (apt-get install -y chromium chromium-driver)"
    if not shutil.which("chromedriver"):
        return "chromedriver is not installed (apt-get install -y chromium-driver)"
    return None


@contextlib.contextmanager
def headless_chromium():
    """A selenium Chrome driver on Debian's chromium, quit (with its browser) on exit."""
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must not try to download a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    with tempfile.TemporaryDirectory(prefix="emctl-chromium-") as profile:
        for flag in CHROME_FLAGS + (f"--user-data-dir={profile}",):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def wait_ready(driver, timeout: float, hold: float = 1.0) -> float:
    """Poll `viewer.isReady()` until it has been true for `hold` seconds; seconds waited."""
    start = time.monotonic()
    since = None
    while time.monotonic() - start < timeout:
        ready = driver.execute_script("return !!(window.viewer && window.viewer.isReady())")
        now = time.monotonic()
        if not ready:
            since = None
        elif since is None:
            since = now
        elif now - since >= hold:
            return now - start
        time.sleep(0.1)
    raise TimeoutError(f"Neuroglancer was not ready (isReady() true for {hold} s) within {timeout} s")


@contextlib.contextmanager
def emctl_view(dest: str, *args: str, timeout: float = 30.0):
    """Run `emctl view DEST ARGS` as a subprocess; yield (process, the Neuroglancer URL it printed).
    The process is terminated (by its own handle) on exit. It runs the code under test: the
    checkout holding these tests comes first on its path, as it does on pytest's, so an `emctl`
    installed (editable) from another checkout does not run that checkout's code."""
    emctl = os.path.join(os.path.dirname(sys.executable), "emctl")
    command = [emctl] if os.path.exists(emctl) else [sys.executable, "-m", "orchestrator.cli.main"]
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [checkout, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(command + ["view", dest, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        url, seen = None, []
        deadline = time.monotonic() + timeout
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()  # emctl view flushes its first line at once
            if not line:
                break
            seen.append(line)
            if line.startswith("Neuroglancer: "):
                url = line.split("Neuroglancer: ", 1)[1].strip()
        if url is None:
            proc.terminate()
            _, err = proc.communicate(timeout=10)
            raise RuntimeError(f"emctl view printed no 'Neuroglancer: URL' line; stdout {''.join(seen)!r}, "
                               f"stderr {err!r}, exit {proc.returncode}")
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            stream.close()


def data_panels(driver) -> list[tuple[float, float, float, float]]:
    """(left, top, width, height) of each rendered data panel, in CSS pixels."""
    return [tuple(r) for r in driver.execute_script(
        "return [...document.querySelectorAll('.neuroglancer-rendered-data-panel')]"
        ".map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })")]


def xy_panel_sampling(panel, position, scale: float, size_xy) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Which voxel each screen pixel of an xy panel shows (nearest sampling, 1 CSS px = 1 device px).

    The panel's centre is at `position` (continuous voxel coordinates: voxel i spans [i, i+1)) and
    one screen pixel spans `scale` voxels. Returns the screen columns and rows that fall on the
    volume (of `size_xy` voxels, origin 0) and the voxel x of each column and y of each row.
    """
    left, top, width, height = panel
    cols = np.arange(int(np.ceil(left)), int(left + width))
    rows = np.arange(int(np.ceil(top)), int(top + height))
    vx = np.floor(position[0] + (cols + 0.5 - (left + width / 2)) * scale).astype(int)
    vy = np.floor(position[1] + (rows + 0.5 - (top + height / 2)) * scale).astype(int)
    on_x = (vx >= 0) & (vx < size_xy[0])
    on_y = (vy >= 0) & (vy < size_xy[1])
    return cols[on_x], rows[on_y], vx[on_x], vy[on_y]


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(np.float64).ravel(), b.astype(np.float64).ravel())[0, 1])
