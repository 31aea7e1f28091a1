"""Progress of a local run, and the end-of-run summary.

On a terminal, a bar per wave. Anywhere else (a log file, CI, a pipe) bars would be carriage-
return soup, so each wave gets one line when it starts and one when it ends, with its counts and
rates, plus a line a minute while a long wave runs: a log reads top to bottom.
"""
from __future__ import annotations

import sys
import time

from orchestrator.cli.common import human_seconds
from orchestrator.engine import Progress
from orchestrator.local import WaveStats

INTERIM_SECONDS = 60.0     # between a long wave's lines in a log


class Timing(Progress):
    """When each wave started and finished (in this run), for the summary."""

    def __init__(self):
        self.started: dict[str, float] = {}
        self.finished: dict[str, float] = {}

    def wave_started(self, wid: str, count: int, finished: int) -> None:
        self.started.setdefault(wid, time.time())

    def wave_done(self, wid: str) -> None:
        self.finished[wid] = time.time()

    def close(self) -> None:
        pass


class ProgressBars(Timing):
    def __init__(self):
        super().__init__()
        self.bars = {}

    def wave_started(self, wid: str, count: int, finished: int) -> None:
        super().wave_started(wid, count, finished)
        if wid not in self.bars:
            from tqdm import tqdm
            self.bars[wid] = tqdm(total=count, initial=finished, desc=f"{wid:<16}", unit="task",
                                  file=sys.stderr, leave=True, dynamic_ncols=True)

    def task_done(self, wid: str) -> None:
        if wid in self.bars:
            self.bars[wid].update(1)

    def wave_done(self, wid: str) -> None:
        super().wave_done(wid)
        bar = self.bars.pop(wid, None)
        if bar is not None:
            bar.n = bar.total
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


class ProgressLines(Timing):
    """`stats` is the runner's per-wave statistics (tasks done, bytes read), read for the rates."""

    def __init__(self, stats: dict[str, WaveStats], out=None):
        super().__init__()
        self.stats, self.out = stats, out or sys.stderr
        self.counts: dict[str, tuple[int, int]] = {}      # wid: (tasks, finished before this run)
        self.done: dict[str, int] = {}
        self.said: dict[str, float] = {}

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def wave_started(self, wid: str, count: int, finished: int) -> None:
        super().wave_started(wid, count, finished)
        if wid in self.counts:
            return
        self.counts[wid], self.done[wid], self.said[wid] = (count, finished), finished, time.time()
        earlier = f" ({finished} done before)" if finished else ""
        self._say(f"{wid}: started, {count} task{'s' * (count != 1)}{earlier}")

    def task_done(self, wid: str) -> None:
        if wid not in self.counts:
            return
        self.done[wid] += 1
        now = time.time()
        if now - self.said[wid] >= INTERIM_SECONDS:
            self.said[wid] = now
            self._say(f"{wid}: {self.done[wid]}/{self.counts[wid][0]} tasks, "
                      f"{human_seconds(now - self.started[wid])} so far")

    def wave_done(self, wid: str) -> None:
        super().wave_done(wid)
        if wid not in self.counts:
            return                      # finished in an earlier run: nothing happened here
        count, before = self.counts.pop(wid)
        seconds = self.finished[wid] - self.started[wid]
        ran = count - before
        stats = self.stats.get(wid, WaveStats())
        rates = [_task_rate(ran, seconds)] if seconds > 0 and ran > 1 else []
        if stats.bytes_in and seconds > 0:
            rates.append(f"{stats.bytes_in / 1e6 / seconds:.1f} MB/s read")
        failed = f", {stats.failed} failed" if stats.failed else ""
        self._say(f"{wid}: done, {count} task{'s' * (count != 1)}{failed} in {human_seconds(seconds)}"
                  + (f" ({', '.join(rates)})" if rates else ""))


def _task_rate(tasks: int, seconds: float) -> str:
    return f"{tasks / seconds:.1f} tasks/s" if tasks >= seconds else f"{seconds / tasks:.1f} s/task"


def progress_for(stats: dict[str, WaveStats], quiet: bool) -> Timing:
    """Bars on a terminal, lines elsewhere, nothing but timing when quiet."""
    if quiet:
        return Timing()
    return ProgressBars() if sys.stderr.isatty() else ProgressLines(stats)


def summary(stats: dict[str, WaveStats], timing: Timing) -> str:
    lines = [f"{'wave':<18}{'tasks':>7}{'failed':>8}{'time':>9}{'input MB':>11}{'MB/s':>9}"]
    for wid in timing.started:
        s = stats.get(wid, WaveStats())
        seconds = timing.finished.get(wid, time.time()) - timing.started[wid]
        mb = s.bytes_in / 1e6
        rate = f"{mb / seconds:.1f}" if mb and seconds > 0 else "-"
        lines.append(f"{wid:<18}{s.tasks:>7}{s.failed:>8}{human_seconds(seconds):>9}{mb:>11.1f}{rate:>9}")
    return "\n".join(lines)
