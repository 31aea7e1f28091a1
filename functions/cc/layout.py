"""How a cc job is cut into waves and tasks, and the task parameters of each wave.

    blocks      one task per block of `block`: label it, store its faces and stats
    merge       `nummergetasks` tasks, each a contiguous run of blocks: a partial merge
    combine<k>  tasks joining up to FANIN partials of the level below, until at most FANIN remain
    finalize    one task: global ids (the mapping), segments.csv, segment properties
    remap       one task per block: label it again, global ids, written at every scale it owns
    downsample<w>  the segmentation's later multiscale waves (as the image pyramid's)

Each wave's tasks are one of the dataclasses below (downsample's: functions/cc/waves.py).
The cc block grid is the segmentation's block grid (block = block, both numbered x fastest
from the volume's origin), so a remap task owns whole shards of every scale it writes.
"""
from __future__ import annotations

from dataclasses import dataclass

from emcore.job import Job
from emcore.multiscale import Multiscale
from functions.cc.descriptor import Descriptor
from functions.cc.grid import ID_STRIDE, block_box, block_count, grid_shape, merge_groups

# A combine or finalize task reads at most this many partials: the tree stays shallow (a million
# merge tasks need 6 combine waves) and no task holds many partials at once.
FANIN = 8

BLOCKS, MERGE, COMBINE, FINALIZE, REMAP, DOWNSAMPLE, TIDY = (
    "blocks", "merge", "combine", "finalize", "remap", "downsample", "tidy")
TIDY_BLOCKS = 1000   # blocks whose intermediates one tidy task deletes (three objects each)


@dataclass(frozen=True)
class BlockTask:
    """One block (blocks, remap waves): its index and its box [lo, hi) from the volume's origin."""
    block: int
    lo: list[int]
    hi: list[int]


@dataclass(frozen=True)
class BlockRunTask:
    """A run of blocks [first, end) (merge, tidy waves)."""
    blocks: list[int]


@dataclass(frozen=True)
class PartsTask:
    """Partial merges [first, end) of the level below (combine, finalize waves)."""
    parts: list[int]


def merge_levels(tasks: int) -> list[int]:
    """Task counts of the merge wave and of each combine wave."""
    levels = [tasks]
    while levels[-1] > FANIN:
        levels.append(-(-levels[-1] // FANIN))
    return levels


def parse_wave(wave: str) -> tuple[str, int]:
    """("combine", 2) for "combine2"; (name, 0) for the waves without a number."""
    for kind in (COMBINE, DOWNSAMPLE):
        if wave.startswith(kind) and wave[len(kind):].isdigit():
            return kind, int(wave[len(kind):])
    return wave, 0


class Layout:
    """The cc job's geometry, from its options and the descriptor's stored snapshot."""

    def __init__(self, job: Job, descriptor: Descriptor):
        self.options = job.stage("cc")
        self.descriptor = descriptor
        self.block = self.options["block"]
        self.grid = grid_shape(descriptor.size, self.block)
        self.blocks = block_count(self.grid)
        self.groups = merge_groups(self.grid, self.options["nummergetasks"])
        self.levels = merge_levels(len(self.groups))
        self.multiscale = Multiscale(descriptor.size, descriptor.resolution, descriptor.voxel_offset,
                                     self.options["chunk"], self.block)

    def problem(self) -> str | None:
        if self.blocks >= ID_STRIDE:
            return f"stages.cc.block: {self.blocks} blocks are too many for the id scheme; use a larger block"
        problem = self.multiscale.problem()
        return f"{self.descriptor.url} scale {self.descriptor.scale}: {problem}" if problem else None

    def waves(self) -> list[str]:
        combines = [f"{COMBINE}{k}" for k in range(1, len(self.levels))]
        downsamples = [f"{DOWNSAMPLE}{w.index}" for w in self.multiscale.layouts[1:]]
        tidy = [] if self.options["keep_intermediates"] else [TIDY]
        return [BLOCKS, MERGE, *combines, FINALIZE, REMAP, *downsamples, *tidy]

    def box(self, block: int) -> dict[str, list[int]]:
        """{"lo", "hi"}: a block's [lo, hi) relative to the volume's origin."""
        offset, shape = block_box(block, self.grid, self.block, self.descriptor.size)
        return {"lo": offset, "hi": [o + s for o, s in zip(offset, shape)]}

    def block_tasks(self) -> list[BlockTask]:
        return [BlockTask(block=c, **self.box(c)) for c in range(self.blocks)]

    def merge_tasks(self) -> list[BlockRunTask]:
        return [BlockRunTask([group[0], group[-1] + 1]) for group in self.groups]

    def combine_tasks(self, level: int) -> list[PartsTask]:
        below = self.levels[level - 1]
        return [PartsTask([t, min(t + FANIN, below)]) for t in range(0, below, FANIN)]

    def finalize_tasks(self) -> list[PartsTask]:
        return [PartsTask([0, self.levels[-1]])]

    def tidy_tasks(self) -> list[BlockRunTask]:
        return [BlockRunTask([c, min(c + TIDY_BLOCKS, self.blocks)]) for c in range(0, self.blocks, TIDY_BLOCKS)]
