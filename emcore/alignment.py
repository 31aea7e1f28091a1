"""`align/transforms.json`, the align stage's result (functions/align/transforms.py builds it),
and the one writer and reader of it: the align stage writes it, its render wave and the seamless
stage read it (stages do not import each other), and so do `emctl status` and the outputs'
summary. Without the align stage there is none: sections are rendered as imaged.

It holds, per section, the 2x3 matrix section -> frame and its flags; the frame's size; the pairs'
quality and the solve's summary.
"""
from __future__ import annotations

import json

from emcore.storage import NotFound, Storage

TRANSFORMS_KEY = "align/transforms.json"


def dumps_transforms(doc: dict) -> str:
    """JSON with one line per section and per pair: readable, diffable, and ~5x smaller than
    fully indented."""
    lines = ["{"]
    keys = sorted(doc)
    for i, key in enumerate(keys):
        value = doc[key]
        end = "," if i < len(keys) - 1 else ""
        if isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f' "{key}": [')
            lines += [f"  {json.dumps(v, sort_keys=True)}" + ("," if j < len(value) - 1 else "") for j, v in enumerate(value)]
            lines.append(f" ]{end}")
        else:
            lines.append(f' "{key}": {json.dumps(value, sort_keys=True)}{end}')
    return "\n".join(lines) + "\n}\n"


def write_transforms(store: Storage, doc: dict) -> None:
    store.write(TRANSFORMS_KEY, dumps_transforms(doc).encode())


def read_transforms(store: Storage) -> dict | None:
    try:
        return json.loads(store.read(TRANSFORMS_KEY))
    except NotFound:
        return None
