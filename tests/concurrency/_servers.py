"""Demo servers on real sockets, and one browser's concurrent requests.

Shared by the tests in this folder and by ``bench/contention.py``. A
`Deployment` runs one or two ``satchel-demo`` processes (the real command-line
entry point, default session settings) for one framework and store; two
processes share the store: one SQLite file, one Redis key prefix, one
PostgreSQL schema. `contend` logs one browser in, then sends N requests of
that one session at once, each on a connection of its own, and reads the
session back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

__all__ = [
    "FRAMEWORKS",
    "SHARED_STORES",
    "STORES",
    "Deployment",
    "Round",
    "contend",
    "run_round",
    "unique_name",
]

HOST = "127.0.0.1"
FRAMEWORKS = ("aiohttp", "tornado", "wsgi", "asgi", "flask")
STORES = ("memory", "sqlite", "redis", "postgres")
# Stores several server processes can share; memory (and cookie) cannot.
SHARED_STORES = ("sqlite", "redis", "postgres")

# Bounds for a healthy loopback run on a busy two-core machine; a server that
# needs longer than this is broken, not slow.
START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 30.0
# A connection attempt not answered within this is made again (see `_connect`).
CONNECT_RETRY = 0.1

Spawn = Callable[..., subprocess.Popen[bytes]]
Stop = Callable[[subprocess.Popen[bytes]], None]


def _spawn(command: Sequence[str], **options: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(list(command), stdin=subprocess.DEVNULL, **options)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def demo_executable() -> str:
    """The ``satchel-demo`` script of the interpreter running this code."""
    beside = Path(sys.executable).with_name("satchel-demo")
    if beside.exists():
        return str(beside)
    found = shutil.which("satchel-demo")
    if found is None:
        raise FileNotFoundError("satchel-demo is not installed (make install)")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Deployment:
    """`processes` demo servers of one framework sharing one store.

    `name` makes the store's namespace (Redis prefix, PostgreSQL schema) unique
    to this deployment; it must be a lowercase identifier. `close` stops the
    servers and then removes everything the store holds: the SQLite file, the
    Redis keys under the prefix, the PostgreSQL schema. Use it as a context
    manager so that happens on every path.
    """

    def __init__(
        self,
        framework: str,
        store: str,
        processes: int = 1,
        *,
        name: str,
        redis_url: str = "redis://127.0.0.1:6379/0",
        postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres",
        spawn: Spawn = _spawn,
        stop: Stop = _stop,
    ) -> None:
        if processes > 1 and store not in SHARED_STORES:
            raise ValueError(f"{processes} processes cannot share the {store} store")
        self.framework = framework
        self.store = store
        self.processes = processes
        self.redis_url = redis_url
        self.redis_prefix = f"satchel-contention:{name}:"
        self.postgres_dsn = postgres_dsn
        self.postgres_schema = f"contention_{name}"
        self._spawn = spawn
        self._stop = stop
        self._folder = Path(tempfile.mkdtemp(prefix=f"satchel-contention-{name}-"))
        self._servers: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.urls: list[str] = []

    def __enter__(self) -> Deployment:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the servers one after the other, each listening when this returns."""
        # One secret for all: a cookie one process issued must open in the other.
        secret = secrets.token_urlsafe(32)
        for index in range(self.processes):
            port = free_port()
            log_path = self._folder / f"server{index}.log"
            command = [
                demo_executable(),
                "--framework",
                self.framework,
                "--store",
                self.store,
                "--host",
                HOST,
                "--port",
                str(port),
                # One argument, as a secret may start with "-".
                f"--secret={secret}",
                "--sqlite-path",
                str(self._folder / "sessions.sqlite3"),
                "--redis-url",
                self.redis_url,
                "--redis-prefix",
                self.redis_prefix,
                "--postgres-dsn",
                self.postgres_dsn,
                "--postgres-schema",
                self.postgres_schema,
            ]
            with log_path.open("wb") as log:
                process = self._spawn(command, stdout=log, stderr=subprocess.STDOUT)
            self._servers.append((process, log_path))
            # Started one at a time, so two processes never create the same
            # SQLite file or PostgreSQL schema at once.
            self._wait_for(port, process, log_path)
            self.urls.append(f"http://{HOST}:{port}")

    def _wait_for(self, port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"satchel-demo exited with {process.returncode}:\n{_tail(log_path)}"
                )
            try:
                with socket.create_connection((HOST, port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"satchel-demo did not listen on {port} within {START_TIMEOUT:g} s:\n"
                        f"{_tail(log_path)}"
                    ) from None
                time.sleep(0.05)

    def logs(self) -> str:
        """The end of each server's output, for a failure message."""
        parts = [f"--- server {i} ---\n{_tail(path)}" for i, (_, path) in enumerate(self._servers)]
        return "\n".join(parts)

    def close(self) -> None:
        """Stop the servers, then drop the store's data, whatever fails on the way."""
        try:
            for process, _ in self._servers[::-1]:
                self._stop(process)
        finally:
            self._servers.clear()
            try:
                if self.store == "redis":
                    self._delete_redis_keys()
                elif self.store == "postgres":
                    self._drop_postgres_schema()
            finally:
                shutil.rmtree(self._folder, ignore_errors=True)

    def _delete_redis_keys(self) -> None:
        import redis

        with redis.Redis.from_url(self.redis_url) as client:
            keys = list(client.scan_iter(match=_glob_escape(self.redis_prefix) + "*"))
            if keys:
                client.delete(*keys)

    def _drop_postgres_schema(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.postgres_dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(self.postgres_schema)
                )
            )


def _glob_escape(text: str) -> str:
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


@dataclass(frozen=True)
class Round:
    """What one browser saw: N concurrent writes, then the session read back.

    Attributes:
        n: the number of concurrent requests.
        same_key: whether every request wrote the key ``same`` (else ``k{i}``).
        statuses: how often each answer was seen: a status code, or the
            name of the error when no answer came.
        data: the session as ``GET /get`` returned it afterwards.
    """

    n: int
    same_key: bool
    statuses: Counter[str]
    data: dict[str, Any]

    @property
    def answered_200(self) -> int:
        return self.statuses["200"]

    @property
    def kept(self) -> int:
        """Writes found afterwards: keys with their value, or 1 if the same
        key holds one of the values written.
        """
        if self.same_key:
            return int(self.data.get("same") in {f"v{i}" for i in range(self.n)})
        return sum(1 for i in range(self.n) if self.data.get(f"k{i}") == f"v{i}")

    @property
    def missing(self) -> list[str]:
        return [f"k{i}" for i in range(self.n) if self.data.get(f"k{i}") != f"v{i}"]

    @property
    def ok(self) -> bool:
        """Every request answered 200, no write was lost, the login survived."""
        wanted = 1 if self.same_key else self.n
        return (
            self.answered_200 == self.n and self.kept == wanted and self.data.get("user") == "ada"
        )

    def seen(self) -> str:
        """The statuses, e.g. ``200 x62, 500 x2``."""
        return ", ".join(f"{status} x{count}" for status, count in sorted(self.statuses.items()))


def _absorb(jar: dict[str, str], set_cookies: Sequence[str]) -> None:
    # A browser keeps the latest value of each cookie it is sent.
    for line in set_cookies:
        name, _, value = line.split(";", 1)[0].partition("=")
        jar[name.strip()] = value.strip()


def _cookie_header(jar: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in jar.items())


def _parse_head(raw: bytes) -> tuple[str, list[str]]:
    """(status, Set-Cookie values) of a raw HTTP/1.x response."""
    head = raw.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    parts = head[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        return "no HTTP answer", []
    cookies = [
        line.partition(":")[2].strip()
        for line in head[1:]
        if line.partition(":")[0].strip().lower() == "set-cookie"
    ]
    return parts[1], cookies


async def _connect(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    # A SYN dropped by a full listen queue is sent again by the kernel only
    # after a second, then two, four...; a fresh attempt goes out at once.
    # Nothing has been sent yet, so trying again cannot repeat a request.
    while True:
        try:
            async with asyncio.timeout(CONNECT_RETRY):
                return await asyncio.open_connection(host, port)
        except TimeoutError:
            continue


async def _all_at_once(
    urls: Sequence[str], paths: Sequence[str], cookie: str
) -> list[tuple[str, list[str]]]:
    """Send ``GET path`` i to ``urls[i % len(urls)]``, all N in flight together.

    Every connection is opened first, one after the other, and only then are
    all requests written at once: so the requests race each other in the
    session layer, as a browser's requests on its open connections do, and
    not in the listen queue of a server that accepts slowly (the WSGI demo's
    ``wsgiref`` server queues 5 connections).
    """
    streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            for i in range(len(paths)):
                address = urlsplit(urls[i % len(urls)])
                streams.append(await _connect(address.hostname or HOST, address.port or 80))

        async def exchange(i: int) -> tuple[str, list[str]]:
            reader, writer = streams[i]
            host = urlsplit(urls[i % len(urls)]).netloc
            request = (
                f"GET {paths[i]} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n"
                "Connection: close\r\n\r\n"
            )
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    writer.write(request.encode("latin-1"))
                    await writer.drain()
                    return _parse_head(await reader.read())
            except (OSError, TimeoutError) as error:
                return type(error).__name__, []

        return await asyncio.gather(*(exchange(i) for i in range(len(paths))))
    finally:
        for _, writer in streams:
            writer.close()
        for _, writer in streams:
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def contend(urls: Sequence[str], n: int, *, same_key: bool = False) -> Round:
    """Log in on ``urls[0]``, send N writes of that one session at once (request
    i to ``urls[i % len(urls)]``), then read the session back from ``urls[0]``.
    """
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    jar: dict[str, str] = {}
    async with aiohttp.ClientSession(
        timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
    ) as client:
        async with client.get(f"{urls[0]}/login/ada") as response:
            await response.read()
            if response.status != 200 or not response.headers.getall("Set-Cookie", []):
                raise RuntimeError(f"login answered {response.status} with no cookie")
            _absorb(jar, response.headers.getall("Set-Cookie"))

        paths = [f"/put/{'same' if same_key else f'k{i}'}/v{i}" for i in range(n)]
        answers = await _all_at_once(urls, paths, _cookie_header(jar))
        for _, set_cookies in answers:
            _absorb(jar, set_cookies)
        statuses = Counter(status for status, _ in answers)

        async with client.get(f"{urls[0]}/get", headers={"Cookie": _cookie_header(jar)}) as got:
            body = await got.read()
            if got.status != 200:
                raise RuntimeError(f"GET /get answered {got.status}: {body[:200]!r}")
    data = json.loads(body)
    if not isinstance(data, dict):
        raise RuntimeError(f"GET /get answered {data!r}")
    return Round(n=n, same_key=same_key, statuses=statuses, data=data)


def run_round(urls: Sequence[str], n: int, *, same_key: bool = False) -> Round:
    """`contend` from synchronous code."""
    return asyncio.run(contend(urls, n, same_key=same_key))


def unique_name() -> str:
    """A namespace name for a run outside pytest (tests derive theirs from run_id)."""
    return f"b{os.getpid()}x{secrets.token_hex(4)}"
