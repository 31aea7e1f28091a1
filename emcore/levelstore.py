"""Sections' levels as stored under the job root: the contract between align's render wave, which
measures them (and stretches each section by its own when `stages.pyramid.normalize` asks), and
the pyramid, which derives the default 16-bit `window` of its JPEG layer from them.

  levels/<z>.json     {"z", "dtype", "percentiles": [low q, high q], "levels": [low, high],
                       "sampled": pixels measured, "stretched": whether render mapped `levels`
                       to the full range}
  levels/window.json  {"window": [low, high], "sections": the z measured}: the JPEG layer's window,
                      written once by the pyramid's first plan, read by its tasks
"""
from __future__ import annotations

import json

from emcore.storage import NotFound, Storage

PREFIX = "levels/"
WINDOW_KEY = PREFIX + "window.json"
WINDOW_SAMPLE = 64      # sections the window is derived from: the plan's reads stay bounded


def derives_window(pyramid: dict | None, dtype: str) -> bool:
    """Whether the pyramid's JPEG layer takes its window from the measured levels: 16-bit data,
    JPEG, no `window` given."""
    return (pyramid is not None and dtype == "uint16" and pyramid["encoding"] == "jpeg"
            and pyramid["window"] is None)


def measured(pyramid: dict | None, dtype: str) -> bool:
    """Whether render measures (and records) each section's levels: to normalize them, or for the
    window of 16-bit data."""
    return (pyramid or {}).get("normalize") is not None or derives_window(pyramid, dtype)


def section_key(z: int) -> str:
    return f"{PREFIX}{z}.json"


def write_section(store: Storage, record: dict) -> None:
    store.write(section_key(record["z"]), json.dumps(record, sort_keys=True).encode())


def read_sample(store: Storage, zs: range) -> list[dict]:
    """The levels of at most WINDOW_SAMPLE sections spread evenly over `zs` (those measured)."""
    step = max(1, -(-len(zs) // WINDOW_SAMPLE))
    found = []
    for z in zs[::step]:
        try:
            found.append(json.loads(store.read(section_key(z))))
        except NotFound:
            continue
    return found


def write_window(store: Storage, window: list[int], sections: list[int]) -> None:
    store.write(WINDOW_KEY, json.dumps({"window": window, "sections": sections}).encode())


def read_window(store: Storage) -> list[int] | None:
    try:
        return json.loads(store.read(WINDOW_KEY))["window"]
    except NotFound:
        return None
