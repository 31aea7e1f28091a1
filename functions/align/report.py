"""What `emctl status` says about an alignment: poor pairs and flagged sections, one line each,
read from align/transforms.json alone (one object, whatever the stack's length)."""
from __future__ import annotations

from emcore.storage import Storage
from emcore.alignment import read_transforms

MAX_LINES = 20   # per kind; a stack with thousands of bad pairs needs the JSON, not a screen


def report(store: Storage) -> list[str]:
    """Human-readable lines; [] if the solve has not run."""
    doc = read_transforms(store)
    if doc is None:
        return []
    return describe(doc)


def describe(doc: dict) -> list[str]:
    s = doc["summary"]
    frame = doc["frame"]
    residual = "-" if s["median_residual"] is None else f"{s['median_residual']:.2f} px"
    lines = [f"alignment: {s['sections']} sections, {s['pairs_used']} pairs used, median residual {residual}, "
             f"frame {frame['width']}x{frame['height']}" + (" (clipped)" if frame.get("clipped") else "")]
    if doc.get("adopted_from"):
        lines.append(f"  transforms adopted from {doc['adopted_from']}: this stack was not matched")
    anchors = s.get("anchors") or {}
    if anchors.get("tried"):
        lines.append(f"  long-range anchor pairs: {anchors['used']} of {anchors['tried']} used")
    flagged = [sec for sec in doc["sections"] if sec["flags"]]
    for sec in flagged[:MAX_LINES]:
        lines.append(f"  section {sec['z']}: {_section_text(sec)}")
    if len(flagged) > MAX_LINES:
        lines.append(f"  ... and {len(flagged) - MAX_LINES} more flagged sections")
    poor = doc["poor_pairs"]
    for p in poor[:MAX_LINES]:
        quality = f"{p['inliers']} inliers of {p['matches']} matches"
        if p.get("residual") is not None:
            quality += f", residual {p['residual']:.2f} px"
        lines.append(f"  pair {p['z']}-{p['w']} {p['status']}: {p['reason'] or quality} ({quality})")
    if len(poor) > MAX_LINES:
        lines.append(f"  ... and {len(poor) - MAX_LINES} more poor pairs")
    for a, b in doc.get("splits", []):
        lines.append(f"  split between sections {a} and {b}: no pair crosses it; aligned there as imaged")
    lines.append("  per-pair quality along z: align/report.csv, align/report.png")
    return lines


def _section_text(sec: dict) -> str:
    words = []
    for flag in sec["flags"]:
        if flag == "blank":
            words.append("blank")
        elif flag == "bridged":
            words.append("bridged (no usable pair; transform interpolated from its neighbours)")
        elif flag == "duplicate":
            words.append(f"duplicate of section {sec.get('duplicate_of')}")
        elif flag == "split":
            words.append("next to a split")
        else:
            words.append(flag)
    return ", ".join(words)
