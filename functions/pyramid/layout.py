"""How the pyramid is cut into waves and blocks (task creation), from the volume's geometry alone.

Wave 0 reads the rendered tiles and writes scale 0 and every scale at which a block is still at
least one chunk wide. Each later wave takes the last scale written as its input and does the same
with blocks of the same size in that scale's voxels, so the number of scales is never capped and no
task ever holds more than one block.
"""
from __future__ import annotations

from dataclasses import dataclass

from emcore.volume import Scale, pyramid_scales, sharding_for


@dataclass(frozen=True)
class WaveLayout:
    index: int
    base: int | None           # scale read as input; None: the rendered tiles (same grid as scale 0)
    scales: tuple[int, ...]    # scales this wave writes


def scales_for(size, job_options: dict, resolution, voxel_offset) -> list[Scale]:
    return pyramid_scales(size, resolution, voxel_offset, job_options["chunk"])


def wave_layouts(scales: list[Scale], chunk, block) -> list[WaveLayout]:
    waves, base, next_scale = [], None, 0
    while next_scale < len(scales):
        base_factor = (1, 1, 1) if base is None else scales[base].factor
        written = []
        for s in scales[next_scale:]:
            relative = [f // b for f, b in zip(s.factor, base_factor)]
            if written and any(bl // r < c for bl, r, c in zip(block, relative, chunk)):
                break
            written.append(s.index)
        waves.append(WaveLayout(len(waves), base, tuple(written)))
        base, next_scale = written[-1], written[-1] + 1
    return waves


def block_at(scale: Scale, base_factor, block) -> list[int]:
    """Extent of one block at `scale`, for a wave whose input has `base_factor`."""
    return [bl * b // f for bl, b, f in zip(block, base_factor, scale.factor)]


def scale_sharding(scales: list[Scale], layouts: list[WaveLayout], chunk, block) -> dict[int, dict]:
    sharding = {}
    for w in layouts:
        base_factor = (1, 1, 1) if w.base is None else scales[w.base].factor
        for i in w.scales:
            sharding[i] = sharding_for(scales[i].size, chunk, block_at(scales[i], base_factor, block))
    return sharding


def blocks(size, block) -> list[tuple[list[int], list[int]]]:
    """[lo, hi) of each block covering a volume of `size` (coordinates relative to its origin)."""
    out = []
    for z in range(0, size[2], block[2]):
        for y in range(0, size[1], block[1]):
            for x in range(0, size[0], block[0]):
                lo = [x, y, z]
                out.append((lo, [min(a + b, n) for a, b, n in zip(lo, block, size)]))
    return out
