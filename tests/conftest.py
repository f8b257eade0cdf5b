"""Shared fixtures: keyrings, settings, clocks."""

from __future__ import annotations

import pytest

from satchel import Keyring, Settings
from satchel.testing import ManualClock

SECRET = "correct horse battery staple 0001"
OTHER_SECRET = "another secret that is long enough"


@pytest.fixture
def keyring() -> Keyring:
    return Keyring([SECRET])


@pytest.fixture
def settings(keyring: Keyring) -> Settings:
    return Settings(keyring=keyring)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis URL; skips (or fails in CI) when no server answers."""
    from .services import REDIS_HOST, REDIS_PORT, REDIS_URL, redis_answers, unavailable

    if not redis_answers():
        unavailable(f"no Redis server answers on {REDIS_HOST}:{REDIS_PORT}")
    return REDIS_URL


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The test PostgreSQL DSN; skips (or fails in CI) when no server answers."""
    from .services import POSTGRES_DSN, POSTGRES_HOST, POSTGRES_PORT, postgres_answers, unavailable

    if not postgres_answers():
        unavailable(f"no PostgreSQL server answers on {POSTGRES_HOST}:{POSTGRES_PORT}")
    return POSTGRES_DSN


@pytest.fixture(scope="session")
def run_id() -> str:
    """A name unique to this test run (key prefixes, schema names)."""
    from .services import RUN_ID

    return RUN_ID
