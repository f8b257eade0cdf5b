"""Child processes the soak starts, and what it reads about them from /proc.

Every child is registered and stopped at the end, however the run ends; on
Linux each child also asks the kernel for SIGTERM if the runner dies, so a
killed runner leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

# Starting, registering and stopping children is the benchmarks' code.
from bench._procs import (
    HOST,
    free_port,
    install_cleanup,
    spawn,
    stop,
    stop_all,
    wait_for_port,
)

__all__ = [
    "HOST",
    "fd_count",
    "free_port",
    "install_cleanup",
    "rss_kib",
    "sockets_to",
    "spawn",
    "stop",
    "stop_all",
    "wait_for_port",
]


def rss_kib(pid: int) -> int:
    """Resident memory of `pid` in KiB (VmRSS of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def fd_count(pid: int) -> int:
    """Open file descriptors of `pid` (entries of /proc/PID/fd)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def sockets_to(pid: int, port: int) -> int:
    """TCP sockets of `pid` whose remote end is loopback port `port`, live or
    not (a pooled connection to a server that has since died still holds
    its descriptor until the pool next uses it).
    """
    inodes = set()
    for entry in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{entry}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[9] in inodes:
                    count += 1
    return count
