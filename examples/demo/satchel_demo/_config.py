"""What every framework's demo app is built from."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import attrs

from satchel import Settings, aclose_store, close_store

__all__ = ["DemoConfig", "Framework", "StoreName", "aclose_store", "close_store", "make_store"]

Framework = Literal["aiohttp", "tornado", "wsgi", "asgi", "flask"]
StoreName = Literal["memory", "sqlite", "cookie", "redis", "postgres"]


@attrs.frozen(kw_only=True)
class DemoConfig:
    """One demo server: settings, store and clock.

    Attributes:
        settings: the session settings.
        store: the store (sync for WSGI and Flask, async for the others), or
            ``None`` for cookie storage.
        clock: the clock sessions run on (a `ManualClock` in tests).
        host: the address to listen on.
        port: the port to listen on (0 picks a free one).
        timeout_location: where a timed-out session is redirected.
        sweep_interval: seconds between sweeps of stores that need them.
    """

    settings: Settings
    store: Any = None
    clock: Callable[[], float] = time.time
    host: str = "127.0.0.1"
    port: int = 8080
    timeout_location: str = "/"
    sweep_interval: float = 60.0


def make_store(
    name: StoreName,
    *,
    asynchronous: bool,
    sqlite_path: str | Path = "satchel-demo.sqlite3",
    redis_url: str = "redis://127.0.0.1:6379/0",
    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres",
    redis_prefix: str | None = None,
    postgres_schema: str | None = None,
) -> Any:
    """Build the named store in the sync or async flavour (``None`` for cookie).

    `redis_prefix` and `postgres_schema` override the drivers' defaults, so
    several demos (or test runs) can share one server without sharing sessions.
    """
    if name == "cookie":
        return None
    if name == "memory":
        from satchel import AsyncMemoryStore, MemoryStore

        return AsyncMemoryStore() if asynchronous else MemoryStore()
    if name == "sqlite":
        from satchel import AsyncSQLiteStore, SQLiteStore

        return AsyncSQLiteStore(sqlite_path) if asynchronous else SQLiteStore(sqlite_path)
    if name == "redis":
        from satchel_redis import DEFAULT_PREFIX, AsyncRedisStore, RedisStore

        prefix = DEFAULT_PREFIX if redis_prefix is None else redis_prefix
        if asynchronous:
            return AsyncRedisStore.from_url(redis_url, prefix=prefix)
        return RedisStore.from_url(redis_url, prefix=prefix)
    if name == "postgres":
        from satchel_postgres import AsyncPostgresStore, PostgresStore

        flavour = AsyncPostgresStore if asynchronous else PostgresStore
        if postgres_schema is None:
            return flavour.from_dsn(postgres_dsn, create_schema=True)
        return flavour.from_dsn(postgres_dsn, schema=postgres_schema, create_schema=True)
    raise ValueError(f"unknown store {name!r}")
