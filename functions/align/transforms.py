"""The solve task's science: from every pair's record to `align/transforms.json`'s content.

The document holds, per section, the 2x3 matrix taking section pixels to frame pixels, its
quality and flags; per pair, its quality alone and under the solve; the poor pairs; and the frame
(the rendered stack's width and height). Flags:

  blank      the section has no contrast: nothing to match
  bridged    no usable pair touches the section: its transform is interpolated from its
             neighbours, and the stack is carried over it by the z-1 -> z+1 pair
  duplicate  the section is the same image as an earlier one (`duplicate_of`)
  split      no correspondence crosses the gap next to this section; the parts are tied as imaged
"""
from __future__ import annotations

import numpy as np

from functions.align import frame, graph
from functions.align.solve import PairData, solve

VERSION = 1


def build(sections: dict[int, dict], pairs: list[dict], cap: str = "affine", rigidity: float | None = None,
          reach: int = 2) -> dict:
    """`sections`: z -> {"shape": [rows, cols], "blank": bool};
    `pairs`: summaries (PairResult.summary()) each with "src" and "dst" arrays. Pairs further
    apart than `reach` are anchors: one that finds no common tissue is expected (the tissue
    changes over many sections), so it is counted, not listed as poor."""
    zs = sorted(sections)

    def is_anchor(pair: dict) -> bool:
        return pair["w"] - pair["z"] > reach
    shapes = {z: tuple(sections[z]["shape"]) for z in zs}
    usable = [p for p in pairs if p["status"] == "ok"]
    data = [PairData(p["z"], p["w"], np.asarray(p["src"], np.float64), np.asarray(p["dst"], np.float64),
                     float(p["residual"]), model=p.get("model") or cap) for p in usable]
    kwargs = {} if rigidity is None else {"rigidity": rigidity}
    solution = solve(shapes, data, cap, **kwargs)
    rejected = {(z, w): r for z, w, r in solution.rejected}
    matrices = frame.fill(solution.matrices, zs)
    origin, (width, height), clipped = frame.bounding_box(matrices, shapes)

    flags: dict[int, list[str]] = {z: [] for z in zs}
    duplicate_of: dict[int, int] = {}
    for z in zs:
        if sections[z].get("blank"):
            flags[z].append("blank")
    for z in graph.bridged(list(solution.matrices), zs):
        flags[z].append("bridged")
    for p in usable:
        if p.get("duplicate") and (p["z"], p["w"]) not in rejected:
            duplicate_of.setdefault(p["w"], p["z"])
    for w in duplicate_of:
        flags[w].append("duplicate")
    for a, b in solution.splits:
        for z in (a, b):
            if "split" not in flags[z]:
                flags[z].append("split")

    pair_docs, poor = [], []
    residual_sums: dict[int, list[float]] = {z: [] for z in zs}
    for p in pairs:
        key = (p["z"], p["w"])
        doc = {k: v for k, v in p.items() if k not in ("src", "dst")}
        doc["solve_residual"] = None
        if key in solution.pair_residuals:
            doc["solve_residual"] = round(solution.pair_residuals[key], 4)
            for z in key:
                residual_sums[z].append(solution.pair_residuals[key])
        if key in rejected:
            doc["status"] = "rejected"
            doc["reason"] = (f"disagrees with the other pairs by {rejected[key]:.1f} px "
                             f"(its own points scatter by {p['residual']:.1f} px)")
        pair_docs.append(doc)
        unmatched_anchor = is_anchor(p) and doc["status"] not in ("ok", "rejected")
        if doc["status"] != "ok" and not _blank_pair(p, sections) and not unmatched_anchor:
            poor.append({k: doc[k] for k in ("z", "w", "status", "matches", "inliers", "residual", "reason")})

    section_docs = []
    for z in zs:
        used = [p for p in usable if z in (p["z"], p["w"]) and (p["z"], p["w"]) not in rejected]
        section_docs.append({
            "z": z,
            "matrix": np.round(frame.shifted(matrices[z], origin), 9).tolist(),
            "shape": list(shapes[z]),
            "pairs": len(used),
            "residual": round(float(np.sqrt(np.mean(np.square(residual_sums[z])))), 4) if residual_sums[z] else None,
            "flags": flags[z],
            **({"duplicate_of": duplicate_of[z]} if z in duplicate_of else {}),
        })
    solved_residuals = [d["residual"] for d in section_docs if d["residual"] is not None]
    return {
        "version": VERSION,
        "model": cap,
        "solve_model": solution.model,
        "frame": {"width": width, "height": height, "origin": origin.tolist(), "clipped": clipped},
        "sections": section_docs,
        "pairs": pair_docs,
        "poor_pairs": poor,
        "splits": [list(s) for s in solution.splits],
        "summary": {
            "sections": len(zs),
            "pairs_used": len(usable) - len(rejected),
            "pairs_poor": len(poor),
            "blank": [z for z in zs if "blank" in flags[z]],
            "bridged": [z for z in zs if "bridged" in flags[z]],
            "duplicates": sorted(duplicate_of),
            "median_residual": round(float(np.median(solved_residuals)), 4) if solved_residuals else None,
            "anchors": {"tried": sum(1 for d in pair_docs if is_anchor(d)),
                        "used": sum(1 for d in pair_docs if is_anchor(d) and d["status"] == "ok")},
        },
    }


def _blank_pair(p: dict, sections: dict[int, dict]) -> bool:
    """A pair failing because a section is blank is reported with the section, not as a pair."""
    return bool(sections.get(p["z"], {}).get("blank") or sections.get(p["w"], {}).get("blank"))


def matrices_of(doc: dict) -> dict[int, np.ndarray]:
    return {s["z"]: np.asarray(s["matrix"], np.float64) for s in doc["sections"]}
