"""The servers behind the demo, and looking at them from the side.

Redis: a private ``redis-server`` on a free port (the shared one on 6379 is
never touched), so it can be killed and restarted. PostgreSQL: the shared
server, reached through a TCP proxy in a child process (the one the
driver's fault tests use, `tests/postgres/proxy.py`), so it can be made
unreachable without stopping it. The demo names its connections
(``client_name`` in the Redis URL, ``application_name`` in the DSN), so its
connections can be counted and terminated, and no one else's.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import psycopg
import redis
from psycopg import sql

from bench._procs import RedisServer

from ._procs import HOST, spawn, stop

__all__ = [
    "POSTGRES_TIMEOUT",
    "REDIS_TIMEOUT",
    "PrivateRedis",
    "ProxyProcess",
    "drop_schema",
    "postgres_connections",
    "redis_clients",
    "redis_delete_prefix",
    "terminate_backends",
]

# The stores' default timeouts, which the demo uses (satchel_redis.DEFAULT_TIMEOUT
# and satchel_postgres' DEFAULT_TIMEOUT).
REDIS_TIMEOUT = 2.0
POSTGRES_TIMEOUT = 5.0


class PrivateRedis(RedisServer):
    """A ``redis-server`` of the soak's own (see `bench._procs.RedisServer`),
    started by `start` and restartable on its port after `kill`.
    """

    def __init__(self) -> None:
        super().__init__(start=False)

    def url_for(self, client_name: str) -> str:
        """A URL whose connections carry `client_name` (see ``CLIENT LIST``)."""
        return f"{self.url}?client_name={client_name}"

    def restart(self) -> None:
        """Start it again on the same port."""
        self.start()

    def client(self) -> redis.Redis:
        """A plain client, for looking behind the store's back."""
        return redis.Redis(host=HOST, port=self.port, socket_timeout=5)


def redis_clients(client: redis.Redis, name: str) -> int:
    """Connections named `name` in the server's ``CLIENT LIST``."""
    return sum(1 for entry in client.client_list() if entry.get("name") == name)


def redis_delete_prefix(client: redis.Redis, prefix: str) -> int:
    """Delete every key starting with `prefix`; return how many."""
    deleted = 0
    keys: Any = list(client.scan_iter(match=prefix.replace("*", r"\*") + "*", count=1000))
    for start in range(0, len(keys), 500):
        deleted += int(client.delete(*keys[start : start + 500]))
    return deleted


class ProxyProcess:
    """`tests/postgres/proxy.py`'s `TcpProxy` in a child process of its own
    (so its threads do not share an interpreter with the load), driven by
    one line per command on its stdin.
    """

    def __init__(self, upstream_port: int = 5432) -> None:
        self.process = spawn(
            [sys.executable, "-m", "soak._proxy", str(upstream_port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.port = int(self._reply())

    def _reply(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode().strip()
        if not line:
            raise RuntimeError(f"the proxy exited ({self.process.poll()})")
        return line

    def _command(self, word: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{word}\n".encode())
        self.process.stdin.flush()
        if self._reply() != "ok":
            raise RuntimeError(f"the proxy did not {word}")

    def stop(self) -> None:
        """Stop listening and drop every connection: PostgreSQL is unreachable."""
        self._command("stop")

    def start(self) -> None:
        """Listen and forward again."""
        self._command("start")

    def dsn(self, application_name: str) -> str:
        """A DSN through the proxy whose connections carry `application_name`."""
        return (
            f"postgresql://postgres@{HOST}:{self.port}/postgres"
            f"?sslmode=disable&gssencmode=disable&application_name={application_name}"
        )

    def close(self) -> None:
        """End the proxy process."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        stop(self.process)
        if self.process.stdout is not None:
            self.process.stdout.close()


def postgres_connections(admin_dsn: str, application_name: str) -> int:
    """Backends of `application_name` in ``pg_stat_activity``."""
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        ).fetchone()
    return int(row[0]) if row else 0


def terminate_backends(admin_dsn: str, application_name: str) -> int:
    """``pg_terminate_backend`` every backend of `application_name`; how many."""
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()",
            (application_name,),
        ).fetchall()
    return sum(1 for (terminated,) in rows if terminated)


def drop_schema(admin_dsn: str, schema: str) -> None:
    """Drop `schema` and everything in it."""
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
