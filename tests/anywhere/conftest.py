"""Fixtures for the request-scoped context's tests: settings, a counting store."""

from __future__ import annotations

import pytest

from satchel import Keyring, Settings

from ..stores import CountingStore
from ._checks import COOKIE

SECRET = "request-scoped context tests 0001"


@pytest.fixture
def settings() -> Settings:
    """Plain HTTP (the test servers have no TLS); the session cookie `COOKIE`."""
    return Settings(keyring=Keyring([SECRET]), secure=False, cookie_name=COOKIE)


@pytest.fixture
def counting_store() -> CountingStore:
    """A real memory store that logs the name of each op it runs."""
    return CountingStore()
