"""The adapter conformance suite, over real HTTP against the Tornado demo app."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from satchel import AsyncMemoryStore, AsyncSQLiteStore
from satchel.testing import AdapterConformance, AsyncSwitchableStore, LiveServer, ManualClock
from satchel_demo import DemoConfig
from satchel_demo._tornado import run

from ._live import adapter_settings, serving

IDLE = 60


def _live(store: Any) -> Iterator[LiveServer]:
    clock = ManualClock(time.time())
    # A store wrapped so the store-failure checks can break and mend it.
    switchable = None if store is None else AsyncSwitchableStore(store)
    config = DemoConfig(settings=adapter_settings(), store=switchable, clock=clock, port=0)
    with serving(lambda stop, ready: run(config, stop, ready=ready)) as url:
        yield LiveServer(
            base_url=url,
            clock=clock,
            idle_timeout=IDLE,
            break_store=None if switchable is None else switchable.break_down,
            mend_store=None if switchable is None else switchable.mend,
        )


class TestMemoryStore(AdapterConformance):
    websockets = True
    server_side = True

    @pytest.fixture
    def live_server(self) -> Iterator[LiveServer]:
        yield from _live(AsyncMemoryStore())


class TestCookieStorage(AdapterConformance):
    websockets = True
    server_side = False

    @pytest.fixture
    def live_server(self) -> Iterator[LiveServer]:
        yield from _live(None)


class TestSQLiteStore(AdapterConformance):
    websockets = True
    server_side = True

    @pytest.fixture
    def live_server(self, tmp_path: Path) -> Iterator[LiveServer]:
        yield from _live(AsyncSQLiteStore(tmp_path / "sessions.sqlite3"))
