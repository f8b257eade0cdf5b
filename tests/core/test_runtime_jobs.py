"""The runtime's cleanup job on an event loop, and closing stores."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from satchel import (
    AdapterOptions,
    AsyncMemoryStore,
    AsyncSessionRuntime,
    AsyncSQLiteStore,
    Keyring,
    Load,
    MemoryStore,
    Save,
    SessionRuntime,
    Settings,
    StoreError,
    SweepTask,
    aclose_store,
    close_store,
)
from satchel.testing import ManualClock

from ..conftest import SECRET

LOGGER = logging.getLogger("satchel.test-runtime")


def async_runtime(store: object, clock: ManualClock) -> AsyncSessionRuntime:
    options = AdapterOptions(
        settings=Settings(keyring=Keyring([SECRET])),
        store=store,
        flavour="any",
        framework="test",
        clock=clock,
        sweep_interval=0.01,
    )
    return AsyncSessionRuntime(options, LOGGER)


def test_the_sweep_task_sweeps_until_stopped(clock: ManualClock) -> None:
    store = AsyncMemoryStore()

    async def main() -> None:
        save = Save(
            key="k", value=b"x", ttl=1, expires_at=clock() + 1, expected_revision=None, now=clock()
        )
        await store.execute(save)
        task = SweepTask(async_runtime(store, clock), 0.01)
        task.start()
        task.start()  # harmless: one task
        assert task.running
        clock.advance(5)
        for _ in range(200):
            if len(store) == 0:
                break
            await asyncio.sleep(0.01)
        assert len(store) == 0
        await task.stop()
        assert not task.running
        await task.stop()  # harmless

    asyncio.run(main())


def test_a_failing_sweep_is_logged_and_the_task_goes_on(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    class Failing:
        def __init__(self) -> None:
            self.sweeps = 0

        async def execute(self, op: object) -> object:
            raise StoreError("down")

        async def sweep(self, now: float) -> int:
            self.sweeps += 1
            raise StoreError("store unreachable")

    store = Failing()

    async def main() -> None:
        task = SweepTask(async_runtime(store, clock), 0.01)
        task.start()
        for _ in range(200):
            if store.sweeps >= 2:
                break
            await asyncio.sleep(0.01)
        assert task.running  # failures did not end it
        await task.stop()

    caplog.set_level(logging.ERROR, logger=LOGGER.name)
    asyncio.run(main())
    assert store.sweeps >= 2
    assert "session sweep failed: StoreError: store unreachable" in caplog.text


def test_aclose_store_uses_aclose_or_close_awaited(tmp_path: Path) -> None:
    calls: list[str] = []

    class WithAclose:
        async def aclose(self) -> None:
            calls.append("aclose")

    class WithSyncClose:
        def close(self) -> None:
            calls.append("close")

    async def main() -> None:
        sqlite = AsyncSQLiteStore(tmp_path / "s.sqlite3")
        await aclose_store(sqlite)
        with pytest.raises(StoreError):
            await sqlite.execute(Load(key="k", now=0.0))
        await aclose_store(WithAclose())
        await aclose_store(WithSyncClose())
        await aclose_store(object())  # nothing to close: nothing happens

    asyncio.run(main())
    assert calls == ["aclose", "close"]


def test_close_store_and_the_runtime_log_a_failure(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    class Fails:
        def execute(self, op: object) -> object:
            raise StoreError("down")

        def close(self) -> None:
            raise StoreError("could not close")

    close_store(object())  # nothing to close
    options = AdapterOptions(
        settings=Settings(keyring=Keyring([SECRET])),
        store=Fails(),
        flavour="sync",
        framework="test",
        clock=clock,
    )
    caplog.set_level(logging.ERROR, logger=LOGGER.name)
    SessionRuntime(options, LOGGER).close_store()  # logged, not raised
    assert "session store failed to close: StoreError: could not close" in caplog.text


@pytest.mark.parametrize(
    ("store", "interval", "expected"),
    [
        ("memory", 30.0, 30.0),  # a store that sweeps
        ("memory", None, None),  # sweeping turned off
        (None, 30.0, None),  # cookie storage: nothing stored, nothing to sweep
    ],
)
def test_the_runtime_says_whether_to_sweep(
    clock: ManualClock, store: str | None, interval: float | None, expected: float | None
) -> None:
    options = AdapterOptions(
        settings=Settings(keyring=Keyring([SECRET])),
        store=MemoryStore() if store == "memory" else None,
        flavour="sync",
        framework="test",
        clock=clock,
        sweep_interval=interval,
    )
    assert SessionRuntime(options, LOGGER).sweep_interval == expected


def test_a_store_without_sweep_is_never_swept(clock: ManualClock) -> None:
    class NoSweep:
        def execute(self, op: object) -> object:
            raise StoreError("unused")

    options = AdapterOptions(
        settings=Settings(keyring=Keyring([SECRET])),
        store=NoSweep(),
        flavour="sync",
        framework="test",
        clock=clock,
    )
    assert SessionRuntime(options, LOGGER).sweep_interval is None
