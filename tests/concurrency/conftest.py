"""Demo servers for the concurrency tests, started once per framework and store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..services import POSTGRES_DSN, REDIS_URL
from ._servers import Deployment

_MARKS = {"redis": [pytest.mark.redis], "postgres": [pytest.mark.postgres]}


def store_marks(store: str) -> list[pytest.MarkDecorator]:
    """The marker a store's server needs (none for memory and SQLite)."""
    return _MARKS.get(store, [])


def deploy(
    request: pytest.FixtureRequest, framework: str, store: str, processes: int
) -> Iterator[Deployment]:
    """Run `processes` demo servers sharing `store` for the requesting module.

    Redis and PostgreSQL come from the shared fixtures, so those cases skip
    without a server (and fail under SATCHEL_REQUIRE_SERVICES=1); the
    namespace carries the run's id, and is removed afterwards.
    """
    redis_url = request.getfixturevalue("redis_url") if store == "redis" else REDIS_URL
    postgres_dsn = request.getfixturevalue("postgres_dsn") if store == "postgres" else POSTGRES_DSN
    run_id = request.getfixturevalue("run_id")
    with Deployment(
        framework,
        store,
        processes,
        name=f"{run_id}_{framework}_{store}_{processes}",
        redis_url=redis_url,
        postgres_dsn=postgres_dsn,
    ) as deployment:
        yield deployment
