"""``satchel-demo --framework flask`` on every store, as real processes.

Two demo processes share one store (a SQLite file, a Redis key prefix, a
PostgreSQL schema) and one secret, as Flask workers behind a load balancer
do; one session's concurrent requests alternate between them, so their saves
race across processes. The memory and cookie stores run one process.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.concurrency._servers import Deployment, run_round
from tests.concurrency.conftest import deploy, store_marks

N = 32


@pytest.fixture(
    scope="module",
    params=[
        pytest.param((store, processes), id=f"{store}-{processes}", marks=store_marks(store))
        for store, processes in (
            ("memory", 1),
            ("cookie", 1),
            ("sqlite", 2),
            ("redis", 2),
            ("postgres", 2),
        )
    ],
)
def servers(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    store, processes = request.param
    yield from deploy(request, "flask", store, processes=processes)


def test_concurrent_writes_on_every_store(servers: Deployment) -> None:
    result = run_round(servers.urls, N)
    assert result.seen() == f"200 x{N}", servers.logs()
    assert result.data["user"] == "ada"
    if servers.store != "cookie":
        # Cookie storage cannot merge: the browser keeps one whole session.
        assert result.missing == [], servers.logs()
