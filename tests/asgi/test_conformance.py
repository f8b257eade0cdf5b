"""The adapter conformance suite, over real HTTP, against the ASGI demo app
(Starlette) on uvicorn, and on hypercorn.

Each store's server starts once per module: the tests use separate clients, and the
ones that advance the clock only ever move it forward.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from satchel import AsyncMemoryStore, AsyncSQLiteStore, SQLiteStore
from satchel.testing import (
    AdapterConformance,
    AsyncSwitchableStore,
    LiveServer,
    ManualClock,
    SwitchableStore,
)
from satchel_demo import DemoConfig
from satchel_demo._asgi import build_app

from ._server import LiveASGI, ServerName
from .conftest import make_settings


def _live(store: object, server: ServerName = "uvicorn") -> Iterator[LiveServer]:
    settings = make_settings()
    clock = ManualClock(time.time())
    # Wrapped so the store-failure checks can break and mend it.
    switchable: SwitchableStore | AsyncSwitchableStore | None = None
    if isinstance(store, SQLiteStore):
        switchable = SwitchableStore(store)
    elif store is not None:
        switchable = AsyncSwitchableStore(store)  # type: ignore[arg-type]
    config = DemoConfig(settings=settings, store=switchable, clock=clock, port=0)
    live = LiveASGI(build_app(config), server)
    try:
        yield LiveServer(
            base_url=live.base_url,
            clock=clock,
            idle_timeout=settings.idle_timeout,
            cookie_name=settings.cookie_name,
            timeout_location=config.timeout_location,
            break_store=None if switchable is None else switchable.break_down,
            mend_store=None if switchable is None else switchable.mend,
        )
    finally:
        live.stop()  # the lifespan's shut-down closes the store


@pytest.fixture(scope="module")
def memory_server() -> Iterator[LiveServer]:
    yield from _live(AsyncMemoryStore())


@pytest.fixture(scope="module")
def cookie_server() -> Iterator[LiveServer]:
    yield from _live(None)


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    path: Path = tmp_path_factory.mktemp("asgi-sqlite") / "sessions.sqlite3"
    yield from _live(AsyncSQLiteStore(path))


@pytest.fixture(scope="module")
def sync_sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    path: Path = tmp_path_factory.mktemp("asgi-sync-sqlite") / "sessions.sqlite3"
    yield from _live(SQLiteStore(path))


@pytest.fixture(scope="module")
def hypercorn_server() -> Iterator[LiveServer]:
    yield from _live(AsyncMemoryStore(), "hypercorn")


class TestMemoryStore(AdapterConformance):
    websockets = True
    server_side = True

    @pytest.fixture
    def live_server(self, memory_server: LiveServer) -> LiveServer:
        return memory_server


class TestCookieStorage(AdapterConformance):
    websockets = True
    server_side = False

    @pytest.fixture
    def live_server(self, cookie_server: LiveServer) -> LiveServer:
        return cookie_server


class TestSQLiteStore(AdapterConformance):
    websockets = True
    server_side = True

    @pytest.fixture
    def live_server(self, sqlite_server: LiveServer) -> LiveServer:
        return sqlite_server


class TestSyncSQLiteStoreOnThreads(AdapterConformance):
    """A synchronous store: its calls run on worker threads (ThreadedStore)."""

    websockets = True
    server_side = True

    @pytest.fixture
    def live_server(self, sync_sqlite_server: LiveServer) -> LiveServer:
        return sync_sqlite_server


class TestMemoryStoreOnHypercorn(AdapterConformance):
    websockets = True
    server_side = True

    @pytest.fixture
    def live_server(self, hypercorn_server: LiveServer) -> LiveServer:
        return hypercorn_server
