"""Child processes the soak starts, and what it reads about them from /proc.

Every child is registered and stopped at the end, however the run ends; on
Linux each child also asks the kernel for SIGTERM if the runner dies, so a
killed runner leaves nothing behind.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any

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

HOST = "127.0.0.1"

_PR_SET_PDEATHSIG = 1
_running: list[subprocess.Popen[bytes]] = []


def _die_with_parent() -> Callable[[], None] | None:
    if os.name != "posix":
        return None

    def setup() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass

    return setup


def spawn(
    command: Sequence[str],
    *,
    stdout: IO[Any] | int = subprocess.DEVNULL,
    stderr: IO[Any] | int = subprocess.DEVNULL,
    stdin: IO[Any] | int = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """Start `command`, registered to be stopped at the end of the run."""
    process = subprocess.Popen(
        list(command),
        stdout=stdout,
        stderr=stderr,
        stdin=stdin,
        preexec_fn=_die_with_parent(),  # noqa: PLW1509
    )
    _running.append(process)
    return process


def stop(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Terminate `process`; kill it if it has not exited within `timeout`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
    if process in _running:
        _running.remove(process)


def stop_all() -> None:
    """Stop every registered child, newest first, even if stopping one fails."""
    for process in list(_running)[::-1]:
        with contextlib.suppress(Exception):
            stop(process)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def install_cleanup() -> None:
    """Stop every child at exit, and turn SIGTERM into a normal exit."""
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, _on_sigterm)


def free_port() -> int:
    """A loopback port nothing listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Wait until something accepts connections on `port`; fail if `process` exits."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listened on port {port} within {timeout} s") from None
            time.sleep(0.05)


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
