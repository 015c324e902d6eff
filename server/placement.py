"""Pinning a process to CPU cores (Linux), for ``ServerConfig.cpus`` and the benchmarks.

Linux keeps one affinity mask per thread and a new thread inherits its
creator's, so pinning a process means pinning each of its threads that
already exists (an imported library may have started some); every thread it
starts afterwards then inherits the mask.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable

log = logging.getLogger(__name__)


def pin_process(cpus: Iterable[int]) -> None:
    """Run every thread of this process, and every thread it starts later, on ``cpus``."""
    cores = set(cpus)
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(tid), cores)
    log.info("pinned to cpus", extra={"cpus": sorted(cores)})


def allowed_cpus() -> list[int]:
    """The cores this process may run on, in order (all of them where the OS cannot say)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))
