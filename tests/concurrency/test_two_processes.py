"""Many requests of one session at once, split between two server processes.

Two demo processes share one store (a SQLite file, a Redis key prefix, a
PostgreSQL schema) and one secret, as workers behind a load balancer do; the
requests alternate between them, so their saves race across processes, where
no in-process lock can help. Default settings, as in production.
"""

from __future__ import annotations

import json
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


def test_log_in_three_times_list_and_log_out_everywhere(servers: Deployment) -> None:
    """Sessions by owner across the two processes: three browsers log in as
    one user (two on one process, one on the other), the list shows three,
    and "log out everywhere" from one ends the two others.
    """
    from satchel.testing import HttpClient

    laptop, phone, tablet = (HttpClient(url) for url in (*servers.urls, servers.urls[0]))
    for browser in (laptop, phone, tablet):
        assert browser.get("/login/grace").status == 200, servers.logs()
    listed = json.loads(laptop.get("/sessions").text)
    assert len(listed) == 3, listed
    assert [entry["current"] for entry in listed].count(True) == 1
    assert phone.get("/logout-everywhere").status == 200, servers.logs()
    assert phone.get("/whoami").text == "grace"
    assert laptop.get("/whoami").text == ""
    assert tablet.get("/whoami").text == ""
    [left] = json.loads(phone.get("/sessions").text)
    assert left["current"]
