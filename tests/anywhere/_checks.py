"""The checks every framework's request-scoped context passes, over real HTTP.

A framework's test module serves an app whose views call the helpers of
`_helpers` (which are passed no request) on these routes, and subclasses
`AnywhereChecks` with a ``served`` fixture:

| route | what the view does |
| --- | --- |
| ``/login/{user}`` | `login` / `alogin` |
| ``/whoami`` | pauses (so the requests overlap), then `whoami` / `awhoami` |
| ``/child`` | `awhoami_in_a_task`, or `whoami_in_threads` on threads |
| ``/untouched`` | `untouched` |
| ``/late`` | loads the session, sends the headers, then `late` in the body |
| ``/cookies`` | `cookies` |
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import ClassVar

import attrs
import pytest

import satchel
from satchel import NoRequestContext
from satchel.testing import HttpClient, HttpResponse

COOKIE = "satchel"
VISITORS = 200


@attrs.frozen
class Served:
    """A running test app: its URL, its store's op log, and what code that
    no request started found on the server (see `_helpers.probe_outside`).
    """

    base_url: str
    ops: list[str]
    probe: Callable[[], str]


def _ok(response: HttpResponse) -> HttpResponse:
    assert response.status == 200, (response.status, response.body[:300])
    return response


class AnywhereChecks:
    """The request-scoped context on one framework."""

    child_sees: ClassVar[str]
    """What ``/child`` answers for a visitor logged in as ``ada``."""

    probe_finds: ClassVar[str]
    """What `Served.probe` answers."""

    @pytest.fixture
    def served(self) -> Served:
        raise NotImplementedError("a framework's module provides the served fixture")

    def test_concurrent_requests_each_see_only_their_own_session(self, served: Served) -> None:
        visitors = [HttpClient(served.base_url) for _ in range(VISITORS)]
        start = threading.Barrier(VISITORS)

        def visit(index: int) -> tuple[str, str]:
            visitor = visitors[index]
            start.wait(30)
            login = _ok(visitor.get(f"/login/user{index}")).text
            return login, _ok(visitor.get("/whoami")).text

        with concurrent.futures.ThreadPoolExecutor(max_workers=VISITORS) as pool:
            seen = list(pool.map(visit, range(VISITORS)))
        assert seen == [("ok", f"user{index}") for index in range(VISITORS)]
        cookies = {visitor.cookies[COOKIE] for visitor in visitors}
        assert len(cookies) == VISITORS  # each its own session

    def test_what_the_handler_starts_finds_the_request(self, served: Served) -> None:
        client = HttpClient(served.base_url)
        _ok(client.get("/login/ada"))
        assert _ok(client.get("/child")).text == self.child_sees

    def test_code_outside_any_request_gets_a_clear_error(self, served: Served) -> None:
        assert served.probe() == self.probe_finds
        with pytest.raises(NoRequestContext, match="outside of a request"):
            satchel.current_session()

    def test_a_write_after_the_headers_left_raises_protocol_error(self, served: Served) -> None:
        client = HttpClient(served.base_url)
        _ok(client.get("/login/ada"))
        response = _ok(client.get("/late"))
        assert response.text == "ProtocolError|ProtocolError"
        assert response.set_cookie("late") is None
        assert _ok(client.get("/whoami")).text == "ada"  # the late write was not kept

    def test_an_untouched_request_costs_no_store_op_and_sets_no_cookie(
        self, served: Served
    ) -> None:
        client = HttpClient(served.base_url)
        _ok(client.get("/login/ada"))
        before = list(served.ops)
        response = _ok(client.get("/untouched"))
        assert response.text == "True"
        assert response.header("Set-Cookie") == []
        assert served.ops == before

    def test_cookies_are_read_and_set_through_the_context(self, served: Served) -> None:
        client = HttpClient(served.base_url)
        response = _ok(client.get("/cookies", cookie="colour=blue"))
        assert response.text == "blue"
        assert response.set_cookie("seen") is not None
        assert response.set_cookie(COOKIE) is None  # the session was never opened
        assert served.ops == []
