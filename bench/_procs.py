"""Child processes for the benchmarks: servers, Redis, the load generator.

Every process started here is registered, pinned to a CPU where the machine
has more than one, and stopped when the benchmark ends, whether it ends
normally, by an exception, by Ctrl-C or by SIGTERM. On Linux each child also
asks the kernel to send it SIGTERM if the benchmark process dies, so nothing
is left running even after a SIGKILL.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

HOST = "127.0.0.1"

_PR_SET_PDEATHSIG = 1
_running: list[subprocess.Popen[bytes]] = []


def cpu_plan() -> tuple[int | None, int | None]:
    """(server CPU, load-generator CPU): two different CPUs, or None, None."""
    try:
        available = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None, None
    if len(available) < 2:
        return None, None
    return available[-1], available[0]


def _child_setup(cpu: int | None) -> Callable[[], None]:
    def setup() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    return setup


def spawn(
    command: Sequence[str],
    *,
    cpu: int | None = None,
    stdout: Any = subprocess.DEVNULL,
    stderr: Any = subprocess.DEVNULL,
    stdin: Any = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start `command`, pinned to `cpu`, registered to be stopped at the end."""
    process = subprocess.Popen(
        list(command),
        stdout=stdout,
        stderr=stderr,
        stdin=stdin,
        env=env,
        preexec_fn=_child_setup(cpu) if os.name == "posix" else None,  # noqa: PLW1509
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
    """Stop every process this module started and that is still registered."""
    for process in list(_running)[::-1]:
        stop(process)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def install_cleanup() -> None:
    """Stop every child at exit, and turn SIGTERM into a normal exit."""
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, _on_sigterm)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Wait until something accepts connections on `port`."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"process {process.args!r} exited with {process.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listened on port {port} within {timeout} s") from None
            time.sleep(0.05)


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, list[str], bytes]:
    """(status, Set-Cookie values, body) of one GET, with no cookie jar."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get_all("Set-Cookie") or [], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get_all("Set-Cookie") or [], error.read()


class RedisServer:
    """A ``redis-server`` of the benchmark's (or the soak's) own: loopback,
    no persistence; it can be killed and started again on the same port.
    """

    def __init__(self, cpu: int | None = None, *, start: bool = True) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not on PATH")
        self.binary = binary
        self.cpu = cpu
        self.port = free_port()
        self._folder = tempfile.TemporaryDirectory(prefix="satchel-redis-")
        self.process: subprocess.Popen[bytes] | None = None
        if start:
            self.start()

    def start(self) -> None:
        """Start the server on its port and wait until it answers PING."""
        self.process = spawn(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                HOST,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._folder.name,
            ],
            cpu=self.cpu,
        )
        deadline = time.monotonic() + 15
        while not _redis_answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
            stop(self.process)

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def close(self) -> None:
        if self.process is not None:
            stop(self.process)
        self._folder.cleanup()

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def python() -> str:
    """The interpreter running the benchmark (the venv's)."""
    import sys

    return sys.executable


BENCH = Path(__file__).resolve().parent
