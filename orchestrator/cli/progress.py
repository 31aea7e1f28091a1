"""Progress bars per wave and the end-of-run summary, for the local backend."""
from __future__ import annotations

import sys
import time

from orchestrator.cli.common import human_seconds
from orchestrator.engine import Events
from orchestrator.local import WaveStats


class ProgressBars(Events):
    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bars = {}
        self.started: dict[str, float] = {}
        self.finished: dict[str, float] = {}

    def wave_started(self, wid: str, count: int, finished: int) -> None:
        self.started.setdefault(wid, time.time())
        if self.enabled and wid not in self.bars:
            from tqdm import tqdm
            self.bars[wid] = tqdm(total=count, initial=finished, desc=f"{wid:<16}", unit="task",
                                  file=sys.stderr, leave=True, dynamic_ncols=True)

    def task_done(self, wid: str) -> None:
        if wid in self.bars:
            self.bars[wid].update(1)

    def wave_done(self, wid: str) -> None:
        self.finished[wid] = time.time()
        bar = self.bars.pop(wid, None)
        if bar is not None:
            bar.n = bar.total
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def summary(stats: dict[str, WaveStats], bars: ProgressBars) -> str:
    lines = [f"{'wave':<18}{'tasks':>7}{'failed':>8}{'time':>9}{'input MB':>11}{'MB/s':>9}"]
    for wid in bars.started:
        s = stats.get(wid, WaveStats())
        seconds = bars.finished.get(wid, time.time()) - bars.started[wid]
        mb = s.bytes_in / 1e6
        rate = f"{mb / seconds:.1f}" if mb and seconds > 0 else "-"
        lines.append(f"{wid:<18}{s.tasks:>7}{s.failed:>8}{human_seconds(seconds):>9}{mb:>11.1f}{rate:>9}")
    return "\n".join(lines)
