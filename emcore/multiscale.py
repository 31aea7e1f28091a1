"""Multi-scale volumes written block by block: how the scales are cut into waves and blocks (task
creation), and how one task writes its block at every scale it owns. Shared by the image pyramid
(mean) and the segmentation (mode).

Wave 0 gives each task one block of full-resolution data; the task writes scale 0 and every scale
at which its block is still at least one chunk wide. Each later wave takes the last scale written
as its input and does the same with blocks of the same size in that scale's voxels, so the number
of scales is never capped and no task ever holds more than one block. Sharding is chosen so that
every shard lies inside one block (`volume.sharding_for`): no shard is written by two tasks.
Shards are at most SHARD_SIDE a side, and a block holding several is built one shard at a time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emcore.protocol import MAX_WAVE_TASKS
from emcore.stage import TaskError
from emcore.precomputed import Precomputed, ScaleMeta
from emcore.volume import Scale, downsample, offset_problem, pyramid_scales, shard_shape, sharding_for, write_block


# Shards are at most this many voxels a side (8 chunks of 64): a 1024-voxel block holds several,
# and a task builds them one at a time. Whole 1024^3 shards made a task hold 2 GB and run at half
# the speed: every large buffer is memory fresh from the kernel (bench/pyramid.py).
SHARD_SIDE = 512


@dataclass(frozen=True)
class WaveLayout:
    index: int
    base: int | None           # scale read as input; None: full-resolution data from elsewhere
    scales: tuple[int, ...]    # scales this wave writes


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


def blocks(size, block) -> list[tuple[list[int], list[int]]]:
    """[lo, hi) of each block covering a volume of `size` (coordinates relative to its origin)."""
    out = []
    for z in range(0, size[2], block[2]):
        for y in range(0, size[1], block[1]):
            for x in range(0, size[0], block[0]):
                lo = [x, y, z]
                out.append((lo, [min(a + b, n) for a, b, n in zip(lo, block, size)]))
    return out


class Multiscale:
    """The scales, waves and per-scale sharding of one volume of `size` voxels at scale 0."""

    def __init__(self, size, resolution, voxel_offset, chunk, block):
        self.size, self.chunk, self.block = list(size), list(chunk), list(block)
        self.scales = pyramid_scales(size, resolution, voxel_offset, chunk)
        self.layouts = wave_layouts(self.scales, chunk, block)

    def problem(self) -> str | None:
        return offset_problem(self.scales)

    def _owned_boxes(self) -> dict[int, list[int]]:
        """Per scale, the largest box a shard may fill: within one task's block at that scale,
        and at most `shard_box`."""
        out = {}
        for w in self.layouts:
            base_factor = (1, 1, 1) if w.base is None else self.scales[w.base].factor
            for i in w.scales:
                out[i] = [min(b, s) for b, s in zip(block_at(self.scales[i], base_factor, self.block),
                                                    shard_box(self.chunk))]
        return out

    def sharding(self) -> dict[int, dict]:
        """Per scale, the precomputed `sharding` whose shards lie inside one task's block."""
        return {i: sharding_for(self.scales[i].size, self.chunk, box) for i, box in self._owned_boxes().items()}

    def shard_shapes(self) -> dict[int, list[int]]:
        """Per scale, the same shards as `sharding` as (x, y, z) voxels, for zarr's sharding codec."""
        return {i: shard_shape(self.scales[i].size, self.chunk, box) for i, box in self._owned_boxes().items()}

    def volume(self, url: str, layer_type: str, data_type: str, encoding: str, jpeg_quality: int | None = None,
               **references: str) -> Precomputed:
        """The metadata of this volume stored at `url` (written by the caller's plan)."""
        sharding = self.sharding()
        return Precomputed.new(url, layer_type, data_type, [
            ScaleMeta.of(s, self.chunk, encoding, sharding[s.index], jpeg_quality) for s in self.scales], **references)

    def wave_blocks(self, wave: int) -> list[dict]:
        """Task parameters of a wave: one block each, in its input scale's voxels (origin 0)."""
        layout = self.layouts[wave]
        size = self.size if layout.base is None else self.scales[layout.base].size
        count = int(np.prod([-(-n // b) for n, b in zip(size, self.block)], dtype=np.int64))
        if count > MAX_WAVE_TASKS:   # counted, not listed: a list of millions is itself the harm
            raise TaskError(f"block: {list(self.block)} cuts a {list(size)} volume into {count:,} tasks, "
                            f"more than {MAX_WAVE_TASKS:,} a wave may have: use larger blocks")
        return [{"lo": lo, "hi": hi} for lo, hi in blocks(size, self.block)]

    def input_box(self, wave: int, lo, hi) -> tuple[int | None, list[int], list[int]]:
        """(input scale or None for full-resolution data, lo, hi) in volume coordinates."""
        base = self.layouts[wave].base
        origin = self.scales[0 if base is None else base].voxel_offset
        return base, [o + a for o, a in zip(origin, lo)], [o + b for o, b in zip(origin, hi)]

    def write(self, wave: int, lo, data: np.ndarray, method: str, layers) -> list[int]:
        """Write `data`, the wave's input block at `lo` (origin-relative), at every scale the wave
        owns. `layers` is a list of (open, convert) pairs: `open(index)` is a layer's scale as a
        writable TensorStore array indexed [x, y, z(, channel)] in volume coordinates, and the
        same scales go to each layer after `convert` (e.g. the 8-bit view for a JPEG layer).
        Returns the scales written."""
        hi = [a + n for a, n in zip(lo, data.shape[:3])]

        def part(plo, phi):
            return data[tuple(slice(a - b, c - b) for a, b, c in zip(plo, lo, phi))]
        return self.write_from(wave, lo, hi, part, method, layers)

    def write_from(self, wave: int, lo, hi, read, method: str, layers, given=None) -> list[int]:
        """The same for the block [lo, hi) of the wave's input, got piece by piece from
        `read(lo, hi)`: a block larger than a shard is read one piece (a shard's extent at the
        first scale written) at a time, and only its downsample at the next scale is kept, so a
        task holds one piece plus an eighth of its block instead of the whole block.
        `given`: {scale index: read(lo, hi) in that scale's volume coordinates} for scales that
        exist already (an input volume's own): they are copied, not computed, and the scales
        after them are computed from them."""
        layout = self.layouts[wave]
        indices = list(layout.scales)
        base_factor = (1, 1, 1) if layout.base is None else self.scales[layout.base].factor
        given = given or {}

        def relative(index):
            return [f // b for f, b in zip(self.scales[index].factor, base_factor)]

        def to_scale(index, array, at_lo, at_hi):
            if index in given:
                r, origin = relative(index), self.scales[index].voxel_offset
                return given[index]([o + a // f for o, a, f in zip(origin, at_lo, r)],
                                    [o + -(-b // f) for o, b, f in zip(origin, at_hi, r)])
            return array if index == 0 else downsample(array, self.scales[index].step, method)

        def put(index, array, at_lo):
            at = [o + a // r for o, a, r in zip(self.scales[index].voxel_offset, at_lo, relative(index))]
            for open_layer, convert in layers:
                write_block(open_layer(index), at, convert(array))

        first_piece = [s * r for s, r in zip(shard_box(self.chunk), relative(indices[0]))]
        pieces = blocks_within(lo, hi, first_piece)
        if len(pieces) == 1:
            current, done = read(lo, hi), 0
        else:
            kept = None
            for plo, phi in pieces:
                piece = to_scale(indices[0], read(plo, phi), plo, phi)
                put(indices[0], piece, plo)
                if len(indices) > 1:
                    down = to_scale(indices[1], piece, plo, phi)
                    if kept is None:
                        shape = [-(-(b - a) // r) for a, b, r in zip(lo, hi, relative(indices[1]))]
                        kept = np.zeros(shape, down.dtype, order="F")
                    at = [(a - b) // r for a, b, r in zip(plo, lo, relative(indices[1]))]
                    kept[tuple(slice(a, a + n) for a, n in zip(at, down.shape))] = down
            if len(indices) == 1:
                return indices
            put(indices[1], kept, lo)
            current, done = kept, 2
        for index in indices[done:]:
            current = to_scale(index, current, lo, hi)
            put(index, current, lo)
        return indices


def shard_box(chunk) -> list[int]:
    """The largest shard, in voxels of its scale: SHARD_SIDE, or one chunk if chunks are larger."""
    return [max(SHARD_SIDE, c) for c in chunk]


def blocks_within(lo, hi, side) -> list[tuple[list[int], list[int]]]:
    """[lo, hi) cut into aligned boxes of `side` (lo is a multiple of side)."""
    sub = blocks([b - a for a, b in zip(lo, hi)], side)
    return [([a + x for a, x in zip(lo, s_lo)], [a + x for a, x in zip(lo, s_hi)]) for s_lo, s_hi in sub]
