"""The periodic sweep: it runs while the app runs, logs failures, and stops."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest
from aiohttp import web

from satchel import AsyncMemoryStore, Op, Result, Settings
from satchel.testing import HttpClient, ManualClock
from satchel_aiohttp._sweep import TASK_NAME

from ._app import make_app
from ._server import LiveApp
from ._stores import FailingStore
from .conftest import IDLE_TIMEOUT

Serve = Callable[[web.Application], LiveApp]
INTERVAL = 0.02


async def task_names() -> set[str]:
    return {task.get_name() for task in asyncio.all_tasks()}


def wait_for(condition: Callable[[], bool], timeout: float = 1.0) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_sweep_removes_expired_sessions_and_stops_with_the_app(
    web_settings: Settings, web_clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = AsyncMemoryStore()
    live = LiveApp(make_app(web_settings, store=store, clock=web_clock, sweep_interval=INTERVAL))
    try:
        client = HttpClient(live.base_url)
        assert client.get("/login/ada").status == 200
        assert client.get("/whoami").text == "ada"
        assert TASK_NAME in live.call(task_names())
        # Live sessions are left alone, however many rounds pass.
        time.sleep(INTERVAL * 5)
        assert len(store) == 1
        web_clock.advance(IDLE_TIMEOUT)
        assert wait_for(lambda: len(store) == 0)
    finally:
        remaining: list[set[str]] = []

        async def after_cleanup() -> None:
            remaining.append(await task_names())

        live.stop(before_close=after_cleanup)
    assert TASK_NAME not in remaining[0]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


class _RecordingStore:
    """A memory store that notes the `now` of every sweep."""

    def __init__(self) -> None:
        self.inner = AsyncMemoryStore()
        self.sweeps: list[float] = []

    async def execute(self, op: Op) -> Result:
        return await self.inner.execute(op)

    async def sweep(self, now: float) -> int:
        self.sweeps.append(now)
        return await self.inner.sweep(now)


def test_sweep_reads_the_configured_clock(
    serve: Serve, web_settings: Settings, web_clock: ManualClock
) -> None:
    store = _RecordingStore()
    serve(make_app(web_settings, store=store, clock=web_clock, sweep_interval=INTERVAL))
    assert wait_for(lambda: len(store.sweeps) >= 1)
    web_clock.advance(1000)
    assert wait_for(lambda: bool(store.sweeps) and store.sweeps[-1] == web_clock.now)


def test_sweep_failures_are_logged_and_the_sweep_goes_on(
    serve: Serve,
    web_settings: Settings,
    web_clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="satchel.aiohttp")
    live = serve(
        make_app(
            web_settings, store=FailingStore("sweep"), clock=web_clock, sweep_interval=INTERVAL
        )
    )

    def failures() -> int:
        return sum("session sweep failed" in r.getMessage() for r in caplog.records)

    assert wait_for(lambda: failures() >= 2)
    record = next(r for r in caplog.records if "session sweep failed" in r.getMessage())
    assert record.levelno == logging.ERROR
    assert "StoreError" in record.getMessage()
    assert HttpClient(live.base_url).get("/login/ada").status == 200


@pytest.mark.parametrize(
    "options",
    [
        {"store": AsyncMemoryStore, "sweep_interval": None},
        {"store": None},
        {"store": "no sweep method"},
    ],
    ids=["interval-none", "cookie-storage", "store-without-sweep"],
)
def test_no_sweep_task_when_there_is_nothing_to_sweep(
    serve: Serve, web_settings: Settings, web_clock: ManualClock, options: dict[str, object]
) -> None:
    class NoSweep:
        def __init__(self) -> None:
            self.inner = AsyncMemoryStore()

        async def execute(self, op: Op) -> Result:
            return await self.inner.execute(op)

    chosen = options["store"]
    store = NoSweep() if chosen == "no sweep method" else (chosen() if callable(chosen) else None)
    live = serve(
        make_app(
            web_settings,
            store=store,
            clock=web_clock,
            sweep_interval=options.get("sweep_interval", INTERVAL),
        )
    )
    assert HttpClient(live.base_url).get("/login/ada").status == 200
    assert TASK_NAME not in live.call(task_names())
