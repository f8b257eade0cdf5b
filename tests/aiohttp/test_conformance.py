"""The adapter conformance suite, over real HTTP, against the aiohttp demo app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from satchel import AsyncMemoryStore, AsyncSQLiteStore, Settings
from satchel.testing import AdapterConformance, AsyncSwitchableStore, LiveServer, ManualClock
from satchel_demo import DemoConfig
from satchel_demo._aiohttp import build_app

from ._server import LiveApp


def _live(settings: Settings, clock: ManualClock, store: object) -> tuple[LiveApp, LiveServer]:
    # A store wrapped so the store-failure checks can break and mend it.
    switchable = None if store is None else AsyncSwitchableStore(store)  # type: ignore[arg-type]
    config = DemoConfig(settings=settings, store=switchable, clock=clock, port=0)
    live = LiveApp(build_app(config))
    return live, LiveServer(
        base_url=live.base_url,
        clock=clock,
        idle_timeout=settings.idle_timeout,
        cookie_name=settings.cookie_name,
        timeout_location=config.timeout_location,
        break_store=None if switchable is None else switchable.break_down,
        mend_store=None if switchable is None else switchable.mend,
    )


class TestMemoryStore(AdapterConformance):
    websockets = True
    server_side = True

    @pytest.fixture
    def live_server(self, web_settings: Settings, web_clock: ManualClock) -> Iterator[LiveServer]:
        live, server = _live(web_settings, web_clock, AsyncMemoryStore())
        yield server
        live.stop()


class TestCookieStorage(AdapterConformance):
    websockets = True
    server_side = False

    @pytest.fixture
    def live_server(self, web_settings: Settings, web_clock: ManualClock) -> Iterator[LiveServer]:
        live, server = _live(web_settings, web_clock, None)
        yield server
        live.stop()


class TestSQLiteStore(AdapterConformance):
    websockets = True
    server_side = True

    @pytest.fixture
    def live_server(
        self, web_settings: Settings, web_clock: ManualClock, tmp_path: Path
    ) -> Iterator[LiveServer]:
        store = AsyncSQLiteStore(tmp_path / "sessions.sqlite3")
        live, server = _live(web_settings, web_clock, store)
        yield server
        live.stop(before_close=store.close)
