"""ThreadedStore: a synchronous store behind an asynchronous adapter."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest

from satchel import (
    AdapterOptions,
    AsyncMemoryStore,
    AsyncSessionRuntime,
    ConfigurationError,
    Keyring,
    Load,
    Loaded,
    MemoryStore,
    Op,
    Result,
    Settings,
    SQLiteStore,
    ThreadedStore,
)

from ..conftest import SECRET


class RecordsThread:
    """A real memory store that notes which thread ran each operation."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.threads: list[int] = []

    def execute(self, op: Op) -> Result:
        self.threads.append(threading.get_ident())
        return self.inner.execute(op)


def settings() -> Settings:
    return Settings(keyring=Keyring([SECRET]))


def test_the_any_flavour_wraps_a_sync_store_and_keeps_an_async_one() -> None:
    sync = MemoryStore()
    wrapped = AdapterOptions(settings=settings(), store=sync, flavour="any", framework="ASGI")
    assert isinstance(wrapped.store, ThreadedStore)
    assert wrapped.store.store is sync
    assert wrapped.sweep is not None  # MemoryStore sweeps, on a thread now
    native = AsyncMemoryStore()
    kept = AdapterOptions(settings=settings(), store=native, flavour="any", framework="ASGI")
    assert kept.store is native


def test_the_async_flavour_still_refuses_a_sync_store() -> None:
    with pytest.raises(ConfigurationError, match="asynchronous store"):
        AdapterOptions(settings=settings(), store=MemoryStore(), flavour="async", framework="X")


def test_operations_run_off_the_event_loop_thread() -> None:
    inner = RecordsThread()
    options = AdapterOptions(settings=settings(), store=inner, flavour="any", framework="ASGI")
    runtime = AsyncSessionRuntime(options, logging.getLogger("test"))

    async def request() -> int:
        exchange = runtime.begin(None)
        session = await runtime.load(exchange)
        session["n"] = 1
        await runtime.save(exchange)
        return threading.get_ident()

    loop_thread = asyncio.run(request())
    assert inner.threads  # the save ran
    assert loop_thread not in inner.threads


def test_sweep_and_close_reach_the_wrapped_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    threaded = ThreadedStore(store)

    async def main() -> None:
        assert threaded.sweep is not None
        assert await threaded.sweep(0.0) == 0
        await threaded.close()

    asyncio.run(main())
    with pytest.raises(Exception, match="closed"):
        store.execute(Load(key="k", now=0.0))


def test_a_store_without_sweep_has_none() -> None:
    class NoSweep:
        def execute(self, op: Op) -> Result:
            return Loaded(value=b"", revision=0)

    assert ThreadedStore(NoSweep()).sweep is None
