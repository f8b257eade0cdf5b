"""The periodic sweep, running on a real server's IOLoop."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
import tornado.web

from satchel import AsyncMemoryStore, ConfigurationError
from satchel.testing import HttpClient, ManualClock
from satchel_tornado import SessionConfig, Sweeper, start_sweeper

from ._app import Probe, make_app
from ._live import adapter_settings, app_runner, serving
from ._stores import SweepFailingStore, SwitchableStore


def _wait_until(condition: object, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + 2.0
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_the_sweep_removes_expired_records_and_stops_on_shutdown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock(time.time())
    store = SwitchableStore()
    config = SessionConfig(adapter_settings(), store=store, clock=clock, sweep_interval=0.02)
    app = make_app(config, Probe())
    sweepers: list[Sweeper] = []
    with serving(app_runner(app, sweep=True, sweepers=sweepers)) as url:
        for user in ("ada", "bob", "cy"):
            assert HttpClient(url).get(f"/login/{user}").status == 200
        assert len(store) == 3
        sweeper = sweepers[0]
        assert sweeper.running
        # Live records survive sweeps: sweeps run, nothing is removed.
        _wait_until(lambda: sweeper.runs >= 2, "two sweeps")
        assert len(store) == 3
        clock.advance(60)  # every session is now past its idle timeout
        _wait_until(lambda: len(store) == 0, "the expired records to be swept")
        assert sweeper.removed == 3
    assert not sweeper.running
    runs = sweeper.runs
    clock.advance(60)
    time.sleep(0.1)  # five intervals: a sweeper still running would have run again
    assert sweeper.runs == runs
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_failing_sweep_is_logged_and_retried_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = SweepFailingStore()
    config = SessionConfig(adapter_settings(), store=store, sweep_interval=0.02)
    app = make_app(config, Probe())
    with serving(app_runner(app, sweep=True)) as url:
        _wait_until(lambda: store.sweeps >= 3, "three sweep attempts")
        assert HttpClient(url).get("/plain").status == 200
    failures = [
        record
        for record in caplog.records
        if record.name == "satchel.tornado" and record.levelno == logging.ERROR
    ]
    assert len(failures) >= 3
    assert "StoreError" in failures[0].getMessage()


def test_the_sweeper_does_nothing_without_a_sweepable_store_or_an_interval() -> None:
    settings = adapter_settings()

    async def check() -> list[bool]:
        results = []
        for config in (
            SessionConfig(settings),  # cookie storage: nothing to sweep
            SessionConfig(settings, store=AsyncMemoryStore(), sweep_interval=None),
        ):
            sweeper = start_sweeper(config)
            results.append(sweeper.running)
            assert await sweeper.sweep() == 0
            await sweeper.close()
        return results

    assert asyncio.run(check()) == [False, False]


def test_the_sweeper_is_an_async_context_manager() -> None:
    config = SessionConfig(adapter_settings(), store=AsyncMemoryStore())

    async def check() -> tuple[bool, bool]:
        async with Sweeper(config) as sweeper:
            inside = sweeper.running
        return inside, sweeper.running

    assert asyncio.run(check()) == (True, False)


def test_start_sweeper_finds_the_config_in_the_application() -> None:
    config = SessionConfig(adapter_settings(), store=AsyncMemoryStore())

    async def check() -> bool:
        sweeper = start_sweeper(tornado.web.Application([], satchel=config))
        running = sweeper.running
        await sweeper.close()
        return running

    assert asyncio.run(check())
    with pytest.raises(ConfigurationError, match=r"satchel=satchel_tornado\.SessionConfig"):
        start_sweeper(tornado.web.Application([]))
