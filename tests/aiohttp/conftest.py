"""Fixtures for the aiohttp adapter's tests: settings, a clock, a live server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from aiohttp import web

from satchel import Keyring, Settings
from satchel.testing import ManualClock

from ._server import LiveApp

SECRET = "a test secret for the aiohttp adapter"
IDLE_TIMEOUT = 60.0


@pytest.fixture
def web_settings() -> Settings:
    return Settings(
        keyring=Keyring([SECRET]),
        secure=False,
        idle_timeout=IDLE_TIMEOUT,
        touch_interval=6,
    )


@pytest.fixture
def web_clock() -> ManualClock:
    return ManualClock(time.time())


@pytest.fixture
def serve() -> Iterator[Callable[[web.Application], LiveApp]]:
    """Start apps on free ports; every one is stopped at the end of the test."""
    started: list[LiveApp] = []

    def start(app: web.Application) -> LiveApp:
        live = LiveApp(app)
        started.append(live)
        return live

    yield start
    for live in reversed(started):
        live.stop()
