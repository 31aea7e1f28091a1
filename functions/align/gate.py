"""The alignment's quality gate: a job whose alignment could not place its sections fails, naming
them and their pairs, instead of rendering a stack that only looks complete.

Checked on the solve's document (transforms.py) against `max_unplaced` and `max_splits`:

  unplaced  a section showing tissue that no usable pair touches: its transform is only
            interpolated from its neighbours (blank sections have nothing to place and do not count)
  split     a gap that no usable pair crosses: the parts on either side are tied as imaged

Every pair failing is the extreme case of both: all sections unplaced.
"""
from __future__ import annotations

MAX_NAMED = 10       # sections or gaps named in the message; the report has them all


def verdict(doc: dict, max_unplaced: int = 0, max_splits: int = 0) -> str:
    """Why the alignment cannot be accepted, or '' if it can."""
    sections = doc["sections"]
    if sections and all("blank" in s["flags"] for s in sections):
        return "every section is blank: there is nothing to align"
    pairs_of: dict[int, list[dict]] = {}
    for p in doc["pairs"]:
        for z in (p["z"], p["w"]):
            pairs_of.setdefault(z, []).append(p)
    unplaced = [s["z"] for s in sections if "bridged" in s["flags"] and "blank" not in s["flags"]]
    problems = []
    if len(unplaced) > max_unplaced:
        named = "; ".join(f"section {z} ({_pairs_text(pairs_of.get(z, []))})" for z in unplaced[:MAX_NAMED])
        more = f"; and {len(unplaced) - MAX_NAMED} more" if len(unplaced) > MAX_NAMED else ""
        problems.append(f"{len(unplaced)} of {len(sections)} sections could not be placed, no usable pair "
                        f"touches them: {named}{more}. Accept up to N such sections with "
                        f"stages.align.max_unplaced (now {max_unplaced})")
    splits = doc.get("splits", [])
    if len(splits) > max_splits:
        named = ", ".join(f"{a}-{b}" for a, b in splits[:MAX_NAMED])
        problems.append(f"{len(splits)} gaps in the stack no usable pair crosses (between sections {named}); "
                        f"the parts would only be aligned as imaged. Accept them with stages.align.max_splits "
                        f"(now {max_splits})")
    return ". ".join(problems)


def _pairs_text(pairs: list[dict]) -> str:
    if not pairs:
        return "no pairs"
    return ", ".join(f"pair {p['z']}-{p['w']} {p['status']}" + (f": {p['reason']}" if p.get("reason") else "")
                     for p in pairs[:4])
