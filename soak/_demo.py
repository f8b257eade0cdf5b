"""The real demo server (``satchel-demo``), run as a child process."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import IO, Any

from ._procs import HOST, fd_count, free_port, rss_kib, spawn, stop, wait_for_port

__all__ = ["DemoServer", "demo_command"]


def demo_command() -> list[str]:
    """The ``satchel-demo`` of the running interpreter's environment."""
    script = Path(sys.executable).parent / "satchel-demo"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "satchel_demo._cli"]


class DemoServer:
    """``satchel-demo --framework F --store S`` on a free loopback port.

    Its output goes to `log_path`, so a traceback behind an unexpected answer
    can be shown afterwards.
    """

    def __init__(self, framework: str, store: str, log_path: Path, options: list[str]) -> None:
        self.framework = framework
        self.store = store
        self.log_path = log_path
        self.port = free_port()
        self.command = [
            *demo_command(),
            "--framework",
            framework,
            "--store",
            store,
            "--host",
            HOST,
            "--port",
            str(self.port),
            # One argument: a random secret may start with "-", which argparse
            # would take for an option.
            f"--secret={secrets.token_urlsafe(32)}",
            *options,
        ]
        self._log: IO[Any] | None = None
        self.process: Any = None

    @property
    def url(self) -> str:
        """The server's base URL, without a trailing slash."""
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        """The server's process ID."""
        return int(self.process.pid)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.process = spawn(self.command, stdout=self._log, stderr=self._log)
        try:
            wait_for_port(self.port, self.process)
        except RuntimeError as error:
            self.stop()
            raise RuntimeError(f"{error}\n{self.log_tail()}") from None

    def running(self) -> bool:
        """True while the server process has not exited."""
        return self.process is not None and self.process.poll() is None

    def rss_kib(self) -> int:
        """The server's resident memory, in KiB."""
        return rss_kib(self.pid)

    def fd_count(self) -> int:
        """The server's open file descriptors."""
        return fd_count(self.pid)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and close its log."""
        if self.process is not None:
            stop(self.process)
        if self._log is not None:
            self._log.close()
            self._log = None

    def tracebacks(self) -> int:
        """How many tracebacks the server has logged so far."""
        if not self.log_path.exists():
            return 0
        return self.log_path.read_text(errors="replace").count("Traceback (most recent call last)")

    def log_tail(self, lines: int = 40) -> str:
        """The last `lines` lines of the server's output."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
