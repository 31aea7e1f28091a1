"""The cc stage: label blocks, merge them as a tree of tasks, remap, and build the segmentation's
multiscale pyramid (layout.py for the waves, waves.py for what each does, store.py for what they
leave under `cc/`)."""
from __future__ import annotations

from emcore.job import Job
from emcore.stage import Stage, Wave
from emcore.storage import Storage
from functions.cc import descriptor, waves
from functions.cc.layout import BLOCKS, COMBINE, DOWNSAMPLE, FINALIZE, MERGE, REMAP, TIDY, Layout, parse_wave

_FIXED = {BLOCKS: waves.Blocks(), MERGE: waves.Merge(), FINALIZE: waves.Finalize(), REMAP: waves.Remap(),
          TIDY: waves.Tidy()}
_NUMBERED = {COMBINE: waves.Combine, DOWNSAMPLE: waves.Downsample}


class CCStage(Stage):
    name = "cc"

    def waves(self, job: Job, store: Storage) -> list[str]:
        if job.stage("cc") is None:
            return []
        found = descriptor.stored(store)
        if found is None:
            return [BLOCKS]  # provisional: the rest depends on the descriptor's size
        return Layout(job, found).waves()

    def wave(self, name: str) -> Wave:
        kind, index = parse_wave(name)
        if kind in _NUMBERED and name != kind:
            return _NUMBERED[kind](index)
        if kind in _FIXED:
            return _FIXED[kind]
        raise ValueError(f"the cc stage has no wave {name!r}")


STAGE = CCStage()
