"""The adapter conformance suite, over real HTTP, against the demo app on WSGI."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from wsgiref.validate import validator

import attrs
import pytest

from satchel import MemoryStore, SQLiteStore
from satchel.testing import AdapterConformance, LiveServer, ManualClock, SwitchableStore
from satchel_demo import DemoConfig
from satchel_demo._wsgi import DemoApp, build_app

from .helpers import make_settings, serving


def _live(config: DemoConfig, clock: ManualClock) -> Iterator[LiveServer]:
    # A store wrapped so the store-failure checks can break and mend it.
    store = None if config.store is None else SwitchableStore(config.store)
    middleware = build_app(attrs.evolve(config, store=store))
    # The demo app itself is validated too, so the middleware is checked as
    # a PEP 3333 server (for its application) as well as an application.
    middleware.app = validator(DemoApp(secure=False))
    try:
        with serving(middleware) as url:
            yield LiveServer(
                base_url=url,
                clock=clock,
                idle_timeout=60,
                break_store=None if store is None else store.break_down,
                mend_store=None if store is None else store.mend,
            )
    finally:
        middleware.close()


class TestMemoryStore(AdapterConformance):
    server_side = True

    @pytest.fixture
    def live_server(self) -> Iterator[LiveServer]:
        clock = ManualClock(time.time())
        config = DemoConfig(settings=make_settings(), store=MemoryStore(), clock=clock, port=0)
        yield from _live(config, clock)


class TestCookieStorage(AdapterConformance):
    server_side = False

    @pytest.fixture
    def live_server(self) -> Iterator[LiveServer]:
        clock = ManualClock(time.time())
        config = DemoConfig(settings=make_settings(), store=None, clock=clock, port=0)
        yield from _live(config, clock)


class TestSQLiteStore(AdapterConformance):
    server_side = True

    @pytest.fixture
    def live_server(self, tmp_path: Path) -> Iterator[LiveServer]:
        clock = ManualClock(time.time())
        with SQLiteStore(tmp_path / "sessions.sqlite3") as store:
            config = DemoConfig(settings=make_settings(), store=store, clock=clock, port=0)
            yield from _live(config, clock)
