"""This process's resident memory and open file descriptors, read from Linux's /proc (psutil is not needed).

Every process of a run samples these once a second (the simulator in `load_monitor`, Locust's processes in
`loadgen.process_history`), so that a leak shows as a rising series before it ends the run with MemoryError or
EMFILE. Where /proc is missing (not Linux), both are None: "not measured", never 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

STATM = "/proc/self/statm"  # sizes in pages: total, resident, shared, ...
FD_DIR = "/proc/self/fd"  # one entry per open file descriptor
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ProcessUsage:
    rss_mb: float | None  # resident set size, MiB (None: not measured)
    fds: int | None  # open file descriptors, sockets included (None: not measured)


NOT_MEASURED = ProcessUsage(None, None)


def sample() -> ProcessUsage:
    """This process's RSS and open descriptors now; None for what this platform does not show."""
    return ProcessUsage(_rss_mb(), _fds())


def _rss_mb() -> float | None:
    try:
        with open(STATM, encoding="ascii") as f:
            resident_pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return round(resident_pages * PAGE_BYTES / MB, 1)


def _fds() -> int | None:
    try:
        with os.scandir(FD_DIR) as entries:
            count = sum(1 for _ in entries)
    except OSError:
        return None
    return count - 1  # the listing's own descriptor, open while it was read


# The columns of a run's PREFIX_process_history.csv (written by loadgen.process_history, read by analysis.load):
# one row per Locust process per second.
PROCESS_HISTORY_COLUMNS = (
    "timestamp",  # epoch seconds of the sample
    "role",  # "local" (a single-process run), "master" or "worker"
    "process",  # "local", "master", or the worker's Locust client id
    "pid",
    "rss_mb",  # resident memory, MiB (empty: not measured)
    "fds",  # open file descriptors (empty: not measured)
)
