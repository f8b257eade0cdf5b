"""Many requests of one session at once, split between two server processes.

Two demo processes share one store (a SQLite file, a Redis key prefix, a
PostgreSQL schema) and one secret, as workers behind a load balancer do; the
requests alternate between them, so their saves race across processes, where
no in-process lock can help. Default settings, as in production.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._servers import FRAMEWORKS, SHARED_STORES, Deployment, run_round
from .conftest import deploy, store_marks

N = 64


@pytest.fixture(
    scope="module",
    params=[
        pytest.param((framework, store), id=f"{framework}-{store}", marks=store_marks(store))
        for framework in FRAMEWORKS
        for store in SHARED_STORES
    ],
)
def servers(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    framework, store = request.param
    yield from deploy(request, framework, store, processes=2)


def test_concurrent_writes_of_different_keys_all_answer_200_and_all_survive(
    servers: Deployment,
) -> None:
    result = run_round(servers.urls, N)

    assert result.seen() == f"200 x{N}", servers.logs()
    assert result.missing == []
    assert result.data["user"] == "ada"


def test_concurrent_writes_of_one_key_all_answer_200_and_one_of_them_wins(
    servers: Deployment,
) -> None:
    result = run_round(servers.urls, N, same_key=True)

    assert result.seen() == f"200 x{N}", servers.logs()
    assert result.data["same"] in {f"v{i}" for i in range(N)}
    assert result.data["user"] == "ada"
