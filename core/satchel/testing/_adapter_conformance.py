"""HTTP-level checks that every framework adapter passes.

An adapter's test module starts a real server exposing the contract routes
(`satchel.testing.routes`; see the "Writing a new adapter" guide) and
subclasses `AdapterConformance`::

    class TestMyAdapter(AdapterConformance):
        server_side = True            # the server keeps sessions in a store
        websockets = True             # the server has the /ws route

        @pytest.fixture
        def live_server(self) -> Iterator[LiveServer]:
            clock = ManualClock(time.time())
            store = AsyncSwitchableStore(AsyncMemoryStore())
            ...start the app on 127.0.0.1 with `clock` and `store`...
            yield LiveServer(
                base_url=url, clock=clock, idle_timeout=60,
                break_store=store.break_down, mend_store=store.mend,
            )
            ...stop it...

Every check talks to the server over real HTTP with `HttpClient`, which keeps
cookies like a browser.
"""

from __future__ import annotations

import concurrent.futures
import html
import json
import threading
from typing import ClassVar

import pytest

from ._http import HttpClient, HttpResponse
from ._live import LiveServer

__all__ = ["AdapterConformance", "LiveServer"]

REDIRECTS = (301, 302, 303, 307, 308)


class AdapterConformance:
    """The adapter conformance suite; subclass it and provide `live_server`."""

    server_side: ClassVar[bool] = False
    """True when the server keeps sessions in a store. Server storage is held
    to more: a logged-out cookie replayed finds nothing, concurrent changes
    to different keys all survive, and a failing store is a 503 (for which
    `LiveServer.break_store` and `LiveServer.mend_store` are required)."""

    websockets: ClassVar[bool] = False
    """True when the framework has websockets and the server mounts ``/ws``:
    turns on the websocket handshake checks."""

    owner_index: ClassVar[bool | None] = None
    """True when the server's store keeps an owner index, so ``/sessions``
    and ``/logout-everywhere`` work (docs/owners.md); False when they must
    answer 409. By default, the same as `server_side` (the memory and SQLite
    stores keep one)."""

    # Checks that only apply to some servers. A suite whose server they do
    # not apply to does not have them at all (they are not collected), so
    # nothing inapplicable is reported as skipped or, worse, as passed.
    _SERVER_SIDE_CHECKS: ClassVar[tuple[str, ...]] = (
        "test_a_failing_store_is_a_503_then_recovers",
    )
    _WEBSOCKET_CHECKS: ClassVar[tuple[str, ...]] = (
        "test_websocket_handshake_carries_the_session_cookie",
        "test_websocket_handshake_reads_the_session",
    )
    _OWNER_INDEX_CHECKS: ClassVar[tuple[str, ...]] = (
        "test_log_in_three_times_list_and_end_the_others",
    )
    _NO_OWNER_INDEX_CHECKS: ClassVar[tuple[str, ...]] = (
        "test_sessions_by_owner_are_refused_without_an_index",
    )

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        owner_index = cls.server_side if cls.owner_index is None else cls.owner_index
        dropped = () if cls.server_side else cls._SERVER_SIDE_CHECKS
        dropped += () if cls.websockets else cls._WEBSOCKET_CHECKS
        dropped += cls._NO_OWNER_INDEX_CHECKS if owner_index else cls._OWNER_INDEX_CHECKS
        for name in dropped:
            # pytest collects only callables: None hides the inherited check.
            setattr(cls, name, None)

    @pytest.fixture
    def live_server(self) -> LiveServer:
        """Override: start the demo app, yield a `LiveServer`, stop it."""
        raise NotImplementedError("subclasses provide a live_server fixture")

    @pytest.fixture
    def client(self, live_server: LiveServer) -> HttpClient:
        """A fresh cookie-keeping client for the live server."""
        return HttpClient(live_server.base_url)

    # -- helpers ----------------------------------------------------------

    @staticmethod
    def _ok(response: HttpResponse) -> HttpResponse:
        assert response.status == 200, (response.status, response.body[:500])
        return response

    # -- sessions by owner (docs/owners.md) --------------------------------

    def test_sessions_by_owner_need_a_login(self, client: HttpClient) -> None:
        assert client.get("/sessions").status == 401
        assert client.get("/logout-everywhere").status == 401

    def test_log_in_three_times_list_and_end_the_others(self, live_server: LiveServer) -> None:
        """Three browsers log in as one user, one as another; the first lists
        three sessions and ends the others, which then get fresh sessions.
        """
        laptop, phone, tablet, other = (HttpClient(live_server.base_url) for _ in range(4))
        for browser in (laptop, phone, tablet):
            self._ok(browser.get("/login/ada"))
        self._ok(other.get("/login/bob"))
        listed = json.loads(self._ok(laptop.get("/sessions")).body)
        assert len(listed) == 3
        assert [entry["current"] for entry in listed].count(True) == 1
        assert len({entry["handle"] for entry in listed}) == 3
        cookies = [b.cookies[live_server.cookie_name] for b in (laptop, phone, tablet)]
        assert not any(entry["handle"] in cookie for entry in listed for cookie in cookies)
        self._ok(laptop.get("/logout-everywhere"))
        assert self._ok(laptop.get("/whoami")).text == "ada"
        for browser in (phone, tablet):
            assert self._ok(browser.get("/whoami")).text == ""
        assert self._ok(other.get("/whoami")).text == "bob"
        [left] = json.loads(self._ok(laptop.get("/sessions")).body)
        assert left["current"]

    def test_sessions_by_owner_are_refused_without_an_index(self, client: HttpClient) -> None:
        self._ok(client.get("/login/ada"))
        assert client.get("/sessions").status == 409
        assert client.get("/logout-everywhere").status == 409
        assert self._ok(client.get("/whoami")).text == "ada"

    # -- the classic session routes --------------------------------------

    def test_login_sets_the_user_and_regenerates_the_id(
        self, client: HttpClient, live_server: LiveServer
    ) -> None:
        name = live_server.cookie_name
        self._ok(client.get("/put/theme/dark"))
        before = client.cookies[name]
        response = self._ok(client.get("/login/ada"))
        assert response.text == "User set to: ada"
        assert client.cookies[name] != before
        assert self._ok(client.get("/whoami")).text == "ada"
        assert self._ok(client.get("/get")).json() == {"theme": "dark", "user": "ada"}

    def test_session_cookie_attributes_and_cache_headers(
        self, client: HttpClient, live_server: LiveServer
    ) -> None:
        response = self._ok(client.get("/login/ada"))
        found = response.set_cookie(live_server.cookie_name)
        assert found is not None
        _, attributes = found
        assert "httponly" in attributes
        assert attributes.get("samesite", "").lower() == "lax"
        assert attributes.get("path") == "/"
        assert "max-age" not in attributes  # a browser-session cookie by default
        assert any("no-store" in value for value in response.header("Cache-Control"))
        assert any("cookie" in value.lower() for value in response.header("Vary"))

    def test_new_visitor_has_no_user_and_gets_no_cookie(self, client: HttpClient) -> None:
        response = self._ok(client.get("/whoami"))
        assert response.text == ""
        assert response.header("Set-Cookie") == []

    def test_a_route_that_never_asks_for_the_session_sets_nothing(
        self, client: HttpClient, live_server: LiveServer
    ) -> None:
        self._ok(client.get("/login/ada"))
        response = self._ok(client.get("/cookies"))
        assert response.set_cookie(live_server.cookie_name) is None
        assert not any("cookie" in value.lower() for value in response.header("Vary"))

    def test_remove_keeps_the_rest_of_the_session(self, client: HttpClient) -> None:
        self._ok(client.get("/login/ada"))
        self._ok(client.get("/put/theme/dark"))
        self._ok(client.get("/remove"))
        assert self._ok(client.get("/whoami")).text == ""
        assert self._ok(client.get("/get")).json() == {"theme": "dark"}

    def test_set_if_nil(self, client: HttpClient) -> None:
        assert self._ok(client.get("/set-if-nil/bob")).text == "bob"
        assert self._ok(client.get("/set-if-nil/carol")).text == "bob"
        assert self._ok(client.get("/whoami")).text == "bob"

    def test_logout_ends_the_session_and_expires_the_cookie(
        self, client: HttpClient, live_server: LiveServer
    ) -> None:
        name = live_server.cookie_name
        self._ok(client.get("/login/ada"))
        old = client.cookies[name]
        response = self._ok(client.get("/logout"))
        found = response.set_cookie(name)
        assert found is not None
        assert found[1].get("max-age") == "0"
        assert name not in client.cookies
        assert self._ok(client.get("/whoami")).text == ""
        if self.server_side:
            # The record is gone: replaying the old cookie finds nothing.
            replay = self._ok(client.get("/whoami", cookie=f"{name}={old}"))
            assert replay.text == ""

    def test_put_and_get(self, client: HttpClient) -> None:
        self._ok(client.get("/put/colour/blue"))
        self._ok(client.get("/put/size/10"))
        assert self._ok(client.get("/get")).json() == {"colour": "blue", "size": "10"}

    def test_counter(self, client: HttpClient) -> None:
        assert [self._ok(client.get("/counter")).text for _ in range(3)] == ["1", "2", "3"]
        other = HttpClient(f"http://{client.host}:{client.port}")
        assert self._ok(other.get("/counter")).text == "1"

    def test_flash_is_shown_once(self, client: HttpClient) -> None:
        self._ok(client.get("/flash/hello"))
        assert self._ok(client.get("/show-flash")).text == "hello"
        assert self._ok(client.get("/show-flash")).text == ""

    def test_plain_cookies(self, client: HttpClient) -> None:
        response = self._ok(client.get("/cookie/theme/dark"))
        found = response.set_cookie("theme")
        assert found is not None
        value, attributes = found
        assert value == "dark"
        assert "httponly" in attributes
        assert attributes.get("path") == "/"
        assert attributes.get("max-age") == "3600"
        assert self._ok(client.get("/cookies")).json().get("theme") == "dark"

    def test_streamed_response_saves_the_session(
        self, client: HttpClient, live_server: LiveServer
    ) -> None:
        response = self._ok(client.get("/stream"))
        assert response.body.count(b"\n") >= 3
        assert response.set_cookie(live_server.cookie_name) is not None
        assert self._ok(client.get("/get")).json() == {"streamed": True}

    def test_index_page_shows_user_and_flash(self, client: HttpClient) -> None:
        self._ok(client.get("/login/<ada>"))
        self._ok(client.get("/flash/welcome"))
        page = self._ok(client.get("/"))
        assert "text/html" in page.header("Content-Type")[0]
        assert html.escape("<ada>") in page.text
        assert "<ada>" not in page.text
        assert "welcome" in page.text

    def test_a_raised_redirect_keeps_the_session_change(
        self, client: HttpClient, live_server: LiveServer
    ) -> None:
        # A fresh session: the change made before the raise is its only content.
        response = client.get("/raise-redirect/ada")
        assert response.status in (302, 303), (response.status, response.body[:500])
        [location] = response.header("Location")
        assert location.endswith("/whoami"), location
        assert response.set_cookie(live_server.cookie_name) is not None, (
            "the session cookie must be on the raised redirect"
        )
        assert self._ok(client.get("/whoami")).text == "ada"

    def test_a_raised_redirect_keeps_the_rest_of_the_session(self, client: HttpClient) -> None:
        self._ok(client.get("/login/ada"))
        self._ok(client.get("/put/theme/dark"))
        response = client.get("/raise-redirect/bob")
        assert response.status in (302, 303), (response.status, response.body[:500])
        assert self._ok(client.get("/get")).json() == {"theme": "dark", "user": "bob"}

    # -- store failures -------------------------------------------------------

    def test_a_failing_store_is_a_503_then_recovers(
        self, client: HttpClient, live_server: LiveServer
    ) -> None:
        if live_server.break_store is None or live_server.mend_store is None:
            missing = [
                name for name in ("break_store", "mend_store") if getattr(live_server, name) is None
            ]
            pytest.fail(
                f"server_side = True needs LiveServer.{' and LiveServer.'.join(missing)}: "
                "callables that make the server's store fail with satchel.StoreError and "
                "work again (wrap the store in satchel.testing.SwitchableStore or "
                "AsyncSwitchableStore and pass its break_down and mend)"
            )
        self._ok(client.get("/login/ada"))
        fresh = HttpClient(live_server.base_url)
        live_server.break_store()
        try:
            # A load that fails (a known session), then a save that fails (a new one).
            for who, path in ((client, "/whoami"), (fresh, "/put/colour/blue")):
                response = who.get(path)
                assert response.status == 503, (path, response.status, response.body[:500])
                assert response.header("Set-Cookie") == [], (path, response.headers)
                assert any("no-store" in value for value in response.header("Cache-Control"))
                [retry_after] = response.header("Retry-After")
                assert retry_after.strip().isdigit(), retry_after
        finally:
            live_server.mend_store()
        # Nothing was lost or changed while the store was down.
        assert self._ok(client.get("/whoami")).text == "ada"
        assert self._ok(fresh.get("/get")).json() == {}

    # -- websockets -----------------------------------------------------------

    def test_websocket_handshake_carries_the_session_cookie(
        self, client: HttpClient, live_server: LiveServer
    ) -> None:
        response = client.websocket_handshake("/ws")
        assert response.status == 101, (response.status, response.headers)
        assert response.set_cookie(live_server.cookie_name) is not None, (
            "the session cookie must be on the 101 that accepts the websocket"
        )
        assert self._ok(client.get("/get")).json() == {
            "websocket_handshakes": 1,
            "websocket_user": "",
        }

    def test_websocket_handshake_reads_the_session(self, client: HttpClient) -> None:
        self._ok(client.get("/login/ada"))
        response = client.websocket_handshake("/ws")
        assert response.status == 101, (response.status, response.headers)
        assert self._ok(client.get("/get")).json() == {
            "user": "ada",
            "websocket_handshakes": 1,
            "websocket_user": "ada",
        }

    # -- bad input ----------------------------------------------------------

    @pytest.mark.parametrize(
        "value",
        [
            "garbage",
            "",
            "A" * 3000,
            '"quoted"',
            "%00%0d%0a",
            "eyJ1c2VyIjoiYWRtaW4ifQ",
            "2.AAAA",
        ],
    )
    def test_bad_cookie_is_a_fresh_session(
        self, client: HttpClient, live_server: LiveServer, value: str
    ) -> None:
        response = self._ok(client.get("/whoami", cookie=f"{live_server.cookie_name}={value}"))
        assert response.text == ""

    def test_tampered_cookie_is_a_fresh_session(
        self, client: HttpClient, live_server: LiveServer
    ) -> None:
        name = live_server.cookie_name
        self._ok(client.get("/login/ada"))
        value = client.cookies[name]
        flipped = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
        response = self._ok(client.get("/whoami", cookie=f"{name}={flipped}"))
        assert response.text == ""

    def test_oversized_cookie_header_is_not_an_error(
        self, client: HttpClient, live_server: LiveServer
    ) -> None:
        header = "; ".join(f"c{i}={'x' * 60}" for i in range(100))
        response = client.get("/whoami", cookie=f"{header}; {live_server.cookie_name}=zz")
        # Some servers refuse very large headers outright (431/400); never a 5xx.
        assert response.status < 500
        if response.status == 200:
            assert response.text == ""

    # -- timeouts and concurrency --------------------------------------------

    def test_idle_timeout_redirects(self, client: HttpClient, live_server: LiveServer) -> None:
        self._ok(client.get("/login/ada"))
        live_server.clock.advance(live_server.idle_timeout)
        response = client.get("/whoami")
        assert response.status in REDIRECTS
        [location] = response.header("Location")
        assert location.endswith(live_server.timeout_location)
        # The ended session's cookie was expired: the next request is not redirected again.
        self._ok(client.get(live_server.timeout_location))
        assert self._ok(client.get("/whoami")).text == ""

    def test_just_before_the_idle_timeout_the_session_lives(
        self, client: HttpClient, live_server: LiveServer
    ) -> None:
        self._ok(client.get("/login/ada"))
        live_server.clock.advance(live_server.idle_timeout - 1)
        assert self._ok(client.get("/whoami")).text == "ada"

    def test_concurrent_requests_on_one_session(self, client: HttpClient) -> None:
        self._concurrent_writers(client, requests=16, in_flight=8)

    def test_dozens_of_concurrent_requests_on_one_session(self, client: HttpClient) -> None:
        # What a page firing many requests at once (or an HTTP/2 browser)
        # puts in flight: every one must succeed with the default settings.
        self._concurrent_writers(client, requests=64, in_flight=64)

    def test_concurrent_visitors_each_see_only_their_own_session(
        self, live_server: LiveServer
    ) -> None:
        # /whoami reads the user through a helper that is passed no request:
        # each of these requests in flight at once must find its own session.
        visitors = [HttpClient(live_server.base_url) for _ in range(32)]
        for index, visitor in enumerate(visitors):
            self._ok(visitor.get(f"/login/user{index}"))
        start = threading.Barrier(len(visitors))

        def whoami(index: int) -> str:
            start.wait(10)
            return self._ok(visitors[index].get("/whoami")).text

        with concurrent.futures.ThreadPoolExecutor(max_workers=len(visitors)) as pool:
            seen = list(pool.map(whoami, range(len(visitors))))
        assert seen == [f"user{index}" for index in range(len(visitors))]

    def test_concurrent_writes_to_one_key_last_writer_wins(self, client: HttpClient) -> None:
        self._ok(client.get("/login/ada"))
        cookie = client.cookie_header()
        start = threading.Barrier(32)

        def put(index: int) -> HttpResponse:
            start.wait(10)
            return client.get(f"/put/colour/c{index}", cookie=cookie, keep_cookies=False)

        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
            responses = list(pool.map(put, range(32)))
        assert [response.status for response in responses] == [200] * 32
        if self.server_side:
            data = self._ok(client.get("/get", cookie=cookie, keep_cookies=False)).json()
            assert data["user"] == "ada"
            assert data["colour"] in {f"c{index}" for index in range(32)}

    def _concurrent_writers(self, client: HttpClient, *, requests: int, in_flight: int) -> None:
        self._ok(client.get("/login/ada"))
        cookie = client.cookie_header()
        start = threading.Barrier(in_flight)

        def put(index: int) -> HttpResponse:
            if index < in_flight:
                start.wait(10)  # the first wave leaves together
            return client.get(f"/put/k{index}/{index}", cookie=cookie, keep_cookies=False)

        with concurrent.futures.ThreadPoolExecutor(max_workers=in_flight) as pool:
            responses = list(pool.map(put, range(requests)))
        assert [response.status for response in responses] == [200] * requests, [
            (response.status, response.body[:200])
            for response in responses
            if response.status != 200
        ]
        if self.server_side:
            # Server storage re-applies each request's change after a lost race.
            data = self._ok(client.get("/get")).json()
            assert data == {"user": "ada", **{f"k{i}": str(i) for i in range(requests)}}
        else:
            # Cookie storage cannot merge: each response carries a whole session,
            # and whichever the browser keeps last wins. Each is still complete.
            for response in responses:
                client.receive(response.headers)
                data = self._ok(client.get("/get")).json()
                assert data["user"] == "ada"
                assert len(data) == 2
