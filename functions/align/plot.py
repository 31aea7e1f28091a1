"""The alignment report as a picture: per pair along z, the patches that agree (inliers) and how
far they scatter (residual), so a user sees at a glance where the alignment is weak. Drawn with
OpenCV (already a dependency): a PNG of a few kilobytes, no plotting library."""
from __future__ import annotations

import numpy as np

WIDTH, PANEL, MARGIN = 960, 170, 48
COLOURS = {1: (200, 90, 20), 2: (40, 160, 40)}          # BGR: neighbours blue, z+2 green
OTHER = (150, 150, 150)
BAD = (30, 30, 220)                                        # failed and rejected pairs, unplaced sections


def report_png(doc: dict) -> bytes:
    import cv2
    zs = [s["z"] for s in doc["sections"]]
    height = 2 * PANEL + 3 * MARGIN
    canvas = np.full((height, WIDTH, 3), 255, np.uint8)
    if not zs:
        return cv2.imencode(".png", canvas)[1].tobytes()
    z0, z1 = min(zs), max(max(zs), min(zs) + 1)

    def x_of(z: float) -> int:
        return int(MARGIN + (z - z0) / (z1 - z0) * (WIDTH - 2 * MARGIN))

    panels = [("inliers (patches that agree)", "inliers", MARGIN),
              ("residual (px RMS of the kept points)", "residual", 2 * MARGIN + PANEL)]
    for s in doc["sections"]:
        if "bridged" in s["flags"] and "blank" not in s["flags"]:
            for _, _, top in panels:
                cv2.rectangle(canvas, (x_of(s["z"] - 0.5), top), (x_of(s["z"] + 0.5), top + PANEL), (210, 210, 255), -1)
    for title, key, top in panels:
        values = [p[key] for p in doc["pairs"] if p.get(key) is not None]
        peak = max(values) if values else 1.0
        peak = peak if peak > 0 else 1.0
        cv2.rectangle(canvas, (MARGIN, top), (WIDTH - MARGIN, top + PANEL), (0, 0, 0), 1)
        cv2.putText(canvas, f"{title}, max {peak:.3g}", (MARGIN, top - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
        for p in doc["pairs"]:
            x = x_of((p["z"] + p["w"]) / 2)
            if p["status"] not in ("ok", "poor") or p.get(key) is None:
                cv2.drawMarker(canvas, (x, top + PANEL - 6), BAD, cv2.MARKER_TILTED_CROSS, 8, 1)
                continue
            y = int(top + PANEL - p[key] / peak * (PANEL - 10))
            cv2.circle(canvas, (x, y), 3, COLOURS.get(p["w"] - p["z"], OTHER), -1)
    for z in range(z0, z1 + 1, max(1, (z1 - z0) // 10)):
        cv2.putText(canvas, str(z), (x_of(z) - 8, height - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    legend = "blue: z+1 pairs, green: z+2, grey: longer; red x: failed or rejected; red band: unplaced section"
    cv2.putText(canvas, legend, (MARGIN, height - 26), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    return cv2.imencode(".png", canvas)[1].tobytes()


CSV_COLUMNS = ("z", "w", "status", "model", "matches", "inliers", "residual", "uncertainty", "peak",
               "solve_residual", "duplicate", "reason")


def report_csv(doc: dict) -> str:
    """One line per pair, the columns of CSV_COLUMNS (px for residual, uncertainty and
    solve_residual)."""
    import csv
    import io
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in doc["pairs"]:
        writer.writerow(["" if p.get(k) is None else p.get(k) for k in CSV_COLUMNS])
    return out.getvalue()
