"""Finding the real servers the driver tests need.

A test that needs Redis or PostgreSQL skips with a clear reason when the
server is not reachable on 127.0.0.1, and fails instead when
``SATCHEL_REQUIRE_SERVICES=1`` (as in CI), so a missing server can never
pass as a green run.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import NoReturn

import pytest

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
POSTGRES_HOST, POSTGRES_PORT = "127.0.0.1", 5432
POSTGRES_DSN = os.environ.get(
    "SATCHEL_POSTGRES_DSN", f"postgresql://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/postgres"
)
REDIS_URL = os.environ.get("SATCHEL_REDIS_URL", f"redis://{REDIS_HOST}:{REDIS_PORT}/0")

# One run, one namespace: Redis key prefixes and PostgreSQL schemas carry it,
# so parallel or interrupted runs never see each other's data.
RUN_ID = f"t{os.getpid()}x{uuid.uuid4().hex[:8]}"


def services_required() -> bool:
    """True when a missing server must fail the run instead of skipping."""
    return os.environ.get("SATCHEL_REQUIRE_SERVICES") == "1"


def unavailable(reason: str) -> NoReturn:
    """Skip (or, under SATCHEL_REQUIRE_SERVICES=1, fail) with `reason`."""
    if services_required():
        pytest.fail(f"{reason} (SATCHEL_REQUIRE_SERVICES=1, so this is a failure)")
    pytest.skip(reason)


def redis_answers(host: str = REDIS_HOST, port: int = REDIS_PORT) -> bool:
    """True if a Redis server answers PING at host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as connection:
            connection.sendall(b"*1\r\n$4\r\nPING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def postgres_answers(host: str = POSTGRES_HOST, port: int = POSTGRES_PORT) -> bool:
    """True if something accepts connections on the PostgreSQL port."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False
