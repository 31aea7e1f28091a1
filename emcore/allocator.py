"""Keeping freed memory for reuse in worker processes.

A task allocates and frees large buffers over and over: a decoded section, a piece of a block
(128 MB), TensorStore's chunk buffers and encoded shards. glibc hands every buffer above its mmap
threshold (at most 32 MB) its own mapping and unmaps it on free, and TensorStore's threads
allocate from per-thread arenas whose heaps are unmapped when they empty. Either way the next
buffer is memory fresh from the kernel, faulted in and zeroed page by page: on the pyramid
benchmark, ~950,000 page faults (3.8 GB) and a third of the run's CPU time in the kernel.

One arena, no mmaps and a high trim threshold keep freed memory in the process's heap, where the
next task's buffers reuse it: the faults fell to a third and the process's peak memory did not
grow (bench/pyramid.py). Only the local backend's pool workers do this (orchestrator/local.py);
a Cloud Run instance keeps glibc's defaults, since memory it holds counts against its limit.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX, M_ARENA_MAX = -1, -2, -4, -8
TRIM_THRESHOLD = 1 << 30      # free memory at the top of the heap kept, not returned
TOP_PAD = 64 << 20            # heap growth per request, so growth is not one brk per buffer


def keep_freed_memory() -> bool:
    """Tune glibc's malloc in this process; False where it is not glibc (nothing changes)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    settings = ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD))
    return all(mallopt(option, value) == 1 for option, value in settings)
