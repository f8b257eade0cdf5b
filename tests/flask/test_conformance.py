"""The adapter conformance suite, over real HTTP, against the demo app on Flask."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from satchel import MemoryStore, SQLiteStore, Store
from satchel.testing import AdapterConformance, LiveServer, ManualClock, SwitchableStore
from satchel_demo import DemoConfig
from satchel_demo._flask import build_app

from .helpers import make_settings, serving, serving_with_waitress

Serving = Callable[[Any], contextlib.AbstractContextManager[str]]


def _live(store: Store | None, serve: Serving = serving) -> Iterator[LiveServer]:
    clock = ManualClock(time.time())
    switch = SwitchableStore(store) if store is not None else None
    config = DemoConfig(settings=make_settings(), store=switch, clock=clock, port=0)
    app = build_app(config)
    try:
        with serve(app) as url:
            yield LiveServer(
                base_url=url,
                clock=clock,
                idle_timeout=60,
                break_store=switch.break_down if switch is not None else None,
                mend_store=switch.mend if switch is not None else None,
            )
    finally:
        app.extensions["satchel"].close()


class TestMemoryStore(AdapterConformance):
    server_side = True

    @pytest.fixture
    def live_server(self) -> Iterator[LiveServer]:
        yield from _live(MemoryStore())


class TestCookieStorage(AdapterConformance):
    server_side = False

    @pytest.fixture
    def live_server(self) -> Iterator[LiveServer]:
        yield from _live(None)


class TestSQLiteStore(AdapterConformance):
    server_side = True

    @pytest.fixture
    def live_server(self, tmp_path: Path) -> Iterator[LiveServer]:
        with SQLiteStore(tmp_path / "sessions.sqlite3") as store:
            yield from _live(store)


class TestMemoryStoreUnderWaitress(AdapterConformance):
    server_side = True

    @pytest.fixture
    def live_server(self) -> Iterator[LiveServer]:
        yield from _live(MemoryStore(), serving_with_waitress)
