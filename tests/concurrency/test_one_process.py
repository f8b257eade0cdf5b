"""Many requests of one session at once, one server process, default settings.

A browser with HTTP/2 or a page that fires many requests puts dozens of
requests of one session in flight together. Each request here writes its own
key (or all write the same key) over a connection of its own, against the
real demo server: every request must answer 200, and no write may be lost.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._servers import FRAMEWORKS, STORES, Deployment, run_round
from .conftest import deploy, store_marks

SIZES = [8, 32, 64]


@pytest.fixture(
    scope="module",
    params=[
        pytest.param((framework, store), id=f"{framework}-{store}", marks=store_marks(store))
        for framework in FRAMEWORKS
        for store in STORES
    ],
)
def server(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    framework, store = request.param
    yield from deploy(request, framework, store, processes=1)


@pytest.mark.parametrize("n", SIZES)
def test_concurrent_writes_of_different_keys_all_answer_200_and_all_survive(
    server: Deployment, n: int
) -> None:
    result = run_round(server.urls, n)

    assert result.seen() == f"200 x{n}", server.logs()
    assert result.missing == []
    assert result.data["user"] == "ada"


@pytest.mark.parametrize("n", SIZES)
def test_concurrent_writes_of_one_key_all_answer_200_and_one_of_them_wins(
    server: Deployment, n: int
) -> None:
    result = run_round(server.urls, n, same_key=True)

    assert result.seen() == f"200 x{n}", server.logs()
    assert result.data["same"] in {f"v{i}" for i in range(n)}
    assert result.data["user"] == "ada"
