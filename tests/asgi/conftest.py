"""Fixtures for the ASGI adapter's tests: settings and a clock."""

from __future__ import annotations

import time

import pytest

from satchel import Keyring, Settings
from satchel.testing import ManualClock

SECRET = "a test secret for the asgi adapter"
IDLE_TIMEOUT = 60.0


def make_settings() -> Settings:
    """Settings for plain-HTTP tests on loopback."""
    return Settings(
        keyring=Keyring([SECRET]), secure=False, idle_timeout=IDLE_TIMEOUT, touch_interval=6
    )


@pytest.fixture
def web_settings() -> Settings:
    return make_settings()


@pytest.fixture
def web_clock() -> ManualClock:
    return ManualClock(time.time())
