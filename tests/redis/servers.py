"""Redis servers the tests start themselves, from the ``redis-server`` binary.

Each runs in the foreground as a child process, on a loopback port that was
free a moment before, with persistence off and its files in a temporary
directory. The fault tests kill and restart one; the cluster fixture starts
three and joins them with ``redis-cli --cluster create``.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from ..services import redis_answers, unavailable

HOST = "127.0.0.1"
_START_TIMEOUT = 15.0


def redis_binary(name: str = "redis-server") -> str:
    """The path of a Redis binary, or skip (fail under REQUIRE_SERVICES)."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"`{name}` is not on PATH, so the tests cannot start their own Redis")
    return path


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that nothing listened on just now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class RedisProcess:
    """One ``redis-server`` child process on a fixed port, restartable."""

    def __init__(
        self, binary: str, directory: Path, port: int, options: Sequence[str] = ()
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.port = port
        self.options = list(options)
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self.log = directory / "redis.log"

    @property
    def url(self) -> str:
        """A ``redis://`` URL for this server."""
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        command = [
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
            str(self.directory),
            *self.options,
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + _START_TIMEOUT
        while not redis_answers(HOST, self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"redis-server on port {self.port} did not start:\n{self.log.read_text()}"
                )
            time.sleep(0.02)

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the server; killed if it does not exit promptly."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()


def start_cluster(binary: str, cli: str, directory: Path, size: int = 3) -> list[RedisProcess]:
    """Start `size` cluster-enabled servers and join them as one cluster of
    primaries owning all 16384 slots; returns the running nodes."""
    ports = free_ports(2 * size)
    nodes = [
        RedisProcess(
            binary,
            directory / f"node-{port}",
            port,
            [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                # The bus port is chosen too, instead of port + 10000,
                # which nobody checked was free.
                "--cluster-port",
                str(bus_port),
                "--cluster-node-timeout",
                "5000",
            ],
        )
        for port, bus_port in zip(ports[:size], ports[size:], strict=True)
    ]
    try:
        for node in nodes:
            node.start()
        done = subprocess.run(
            [cli, "--cluster", "create"]
            + [f"{HOST}:{node.port}" for node in nodes]
            + ["--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{done.stdout}{done.stderr}")
        deadline = time.monotonic() + 60
        while not all(_cluster_ok(cli, node.port, size) for node in nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not reach cluster_state:ok")
            time.sleep(0.05)
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def _cluster_ok(cli: str, port: int, size: int) -> bool:
    done = subprocess.run(
        [cli, "-h", HOST, "-p", str(port), "cluster", "info"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    info = dict(
        line.split(":", 1) for line in done.stdout.replace("\r", "").splitlines() if ":" in line
    )
    return (
        info.get("cluster_state") == "ok"
        and info.get("cluster_slots_ok") == "16384"
        and info.get("cluster_known_nodes") == str(size)
    )


def stop_all(nodes: Sequence[RedisProcess]) -> None:
    """Stop every node, even if stopping one fails."""
    for node in nodes:
        with contextlib.suppress(Exception):
            node.stop()
        node.kill()
