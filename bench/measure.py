"""Measuring a benchmark contender as a process tree: wall time, CPU time of every process in it,
and each worker's peak resident memory, sampled with psutil."""
from __future__ import annotations

import os
import resource
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

class TreeSampler:
    """Peak RSS and last CPU time of every process in a tree, sampled every `period` s, with a
    phase label per sample (`phase()` is called each time)."""

    def __init__(self, pid: int, phase=lambda: "", period: float = 0.2):
        import psutil
        self.root = psutil.Process(pid)
        self.phase, self.period = phase, period
        self.peak: dict[tuple[int, str], int] = {}      # (pid, phase) -> peak rss
        self.cpu: dict[int, float] = {}
        self.phase_cpu: dict[str, float] = {}            # CPU time used during each phase
        self.initial: dict[int, float] | None = None     # CPU time of each process at the first sample
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def _run(self):
        import psutil
        while not self.stop.is_set():
            phase = self.phase()
            try:
                procs = [self.root] + self.root.children(recursive=True)
            except psutil.Error:
                procs = []
            for p in procs:
                try:
                    with p.oneshot():
                        rss = p.memory_info().rss
                        t = p.cpu_times()
                except psutil.Error:
                    continue
                key = (p.pid, phase)
                self.peak[key] = max(self.peak.get(key, 0), rss)
                used = t.user + t.system
                self.phase_cpu[phase] = self.phase_cpu.get(phase, 0.0) + used - self.cpu.get(p.pid, 0.0)
                self.cpu[p.pid] = used
            if self.initial is None:
                self.initial = dict(self.cpu)
            self.stop.wait(self.period)

    def peak_worker(self, phase: str | None = None) -> float:
        """MB: the largest RSS of a worker process (in `phase` if given)."""
        values = [v for (pid, ph), v in self.peak.items()
                  if pid != self.root.pid and (phase is None or ph == phase)]
        return max(values, default=0) / 1e6

    def cpu_seconds(self) -> float:
        return sum(self.cpu.values())

    def cpu_used(self) -> float:
        """CPU seconds the tree used while sampled (what processes had used before the first
        sample is not counted)."""
        return sum(self.cpu.values()) - sum((self.initial or {}).values())


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def settle_disk(quiet_seconds: float = 1.0, limit_seconds: float = 60.0) -> None:
    """Flush dirty pages and wait until no block device has I/O in flight. Deleting a previous
    run's output (GBs in thousands of files) on a filesystem mounted with `discard` keeps the disk
    busy for seconds after rmtree returns; a contender started then pays for its predecessor."""
    os.sync()
    devices = [os.path.join("/sys/block", d, "inflight") for d in os.listdir("/sys/block")] \
        if os.path.isdir("/sys/block") else []
    deadline, quiet_since = time.time() + limit_seconds, time.time()
    while time.time() < deadline:
        busy = False
        for path in devices:
            try:
                with open(path) as f:
                    busy |= any(int(v) for v in f.read().split())
            except OSError:
                continue
        if busy:
            quiet_since = time.time()
        elif time.time() - quiet_since >= quiet_seconds:
            return
        time.sleep(0.1)


def warm_files(directory: str) -> None:
    """Read every file under `directory` once, so that each contender finds its input in the page
    cache: otherwise whichever runs right after another reader of the same files is favoured."""
    for root, _, names in os.walk(directory):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                while f.read(1 << 24):
                    pass


def run_tree(command: list[str], phase=lambda: "", env=None, warm: str | None = None
             ) -> tuple[float, float, TreeSampler, subprocess.CompletedProcess]:
    """Run `command` once the disk has settled and the files under `warm` are cached; (wall s,
    CPU s of the tree, sampler, completed process)."""
    settle_disk()
    if warm:
        warm_files(warm)
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env=env)
    with TreeSampler(proc.pid, phase) as sampler:
        out, err = proc.communicate()
    wall = time.perf_counter() - t0
    done = subprocess.CompletedProcess(command, proc.returncode, out, err)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({proc.returncode}):\n{err[-4000:]}")
    return wall, max(_children_cpu() - cpu0, sampler.cpu_seconds()), sampler, done


def best_of(repeat: int, run) -> tuple[float, float, object]:
    """(fastest wall time, CPU seconds of this process and its children during that run, its
    result) of `run(i)` for i in range(repeat)."""
    def cpu_now() -> float:
        return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                   for f in ("ru_utime", "ru_stime"))
    best = None
    for i in range(repeat):
        before = cpu_now()
        with TreeSampler(os.getpid(), period=0.05) as sampler:   # pool workers that outlive the run
            t = time.perf_counter()
            result = run(i)
            seconds = time.perf_counter() - t
        cpu = max(cpu_now() - before, sampler.cpu_used())
        if best is None or seconds < best[0]:
            best = (seconds, cpu, result)
    return best
