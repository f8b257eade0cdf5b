"""Fixtures for the WSGI adapter's tests: a middleware on a real server, and stores."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from satchel import SQLiteStore
from satchel.testing import HttpClient, ManualClock
from satchel_wsgi import SessionMiddleware

from .helpers import make_settings, serving

Serve = Callable[..., tuple[HttpClient, SessionMiddleware]]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time())


@pytest.fixture
def serve(clock: ManualClock) -> Iterator[Serve]:
    """Start `SessionMiddleware(app, ...)` on a real threaded server; returns
    a cookie-keeping client for it and the middleware. Everything stops at teardown."""
    with contextlib.ExitStack() as stack:

        def start(app: Any, **options: Any) -> tuple[HttpClient, SessionMiddleware]:
            settings = options.pop("settings", None) or make_settings()
            options.setdefault("clock", clock)
            middleware = SessionMiddleware(app, settings, **options)
            stack.callback(middleware.close)
            url = stack.enter_context(serving(middleware))
            return HttpClient(url), middleware

        yield start


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "sessions.sqlite3")
    yield store
    store.close()
