"""The middleware under Starlette, FastAPI and Litestar, over real HTTP on uvicorn.

One server per framework for the module: each test uses its own clients, and
the clock only moves forward.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import attrs
import pytest
from websockets.sync.client import connect

import satchel_asgi
from satchel.testing import HttpClient, HttpResponse, ManualClock

from ._apps import APPS, RecordingStore
from ._server import LiveASGI
from .conftest import IDLE_TIMEOUT, make_settings

STORE_FAILED = "session store failed"


@attrs.define
class Live:
    name: str
    server: LiveASGI
    store: RecordingStore
    clock: ManualClock

    def client(self) -> HttpClient:
        return HttpClient(self.server.base_url)


@pytest.fixture(scope="module", params=sorted(APPS))
def live(request: pytest.FixtureRequest) -> Iterator[Live]:
    store = RecordingStore()
    clock = ManualClock(time.time())
    app = satchel_asgi.SessionMiddleware(
        APPS[request.param](), make_settings(), store=store, clock=clock
    )
    server = LiveASGI(app)
    yield Live(request.param, server, store, clock)
    server.stop()


def _ok(response: HttpResponse) -> HttpResponse:
    assert response.status == 200, (response.status, response.body[:500])
    return response


def _failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "satchel.asgi" and record.getMessage().startswith(STORE_FAILED)
    ]


def test_the_session_is_read_and_written(live: Live) -> None:
    client = live.client()
    response = _ok(client.get("/put/colour/blue"))
    assert response.set_cookie("session") is not None
    assert any("no-store" in value for value in response.header("Cache-Control"))
    assert _ok(client.get("/get")).json() == {"colour": "blue"}
    assert _ok(live.client().get("/get")).json() == {}


def test_a_route_that_never_loads_costs_no_store_op(live: Live) -> None:
    client = live.client()
    _ok(client.get("/put/colour/blue"))
    before = len(live.store.ops)
    response = _ok(client.get("/lazy", cookie=f"{client.cookie_header()}; theme=dark"))
    assert response.text == "dark"
    assert len(live.store.ops) == before
    assert response.header("Set-Cookie") == []
    assert not any("cookie" in value.lower() for value in response.header("Vary"))


def test_an_http_exception_turned_into_a_response_keeps_the_change(live: Live) -> None:
    client = live.client()
    _ok(client.get("/put/colour/blue"))
    response = client.get("/http-error")
    assert response.status == 403
    assert response.set_cookie("session") is not None
    assert _ok(client.get("/get")).json() == {"colour": "blue", "refused": True}


def test_an_unhandled_exception_saves_nothing(live: Live) -> None:
    client = live.client()
    _ok(client.get("/put/colour/blue"))
    response = client.get("/crash")
    assert response.status == 500
    assert response.header("Set-Cookie") == []
    assert _ok(client.get("/get")).json() == {"colour": "blue"}


def test_the_websocket_accept_carries_the_session_cookie(live: Live) -> None:
    client = live.client()
    _ok(client.get("/put/user/ada"))
    url = f"{live.server.ws_url}/ws"
    cookie = client.cookie_header()
    assert cookie is not None
    with connect(url, additional_headers={"Cookie": cookie}) as socket:
        assert socket.recv(timeout=10) == "ada"
        assert socket.response is not None
        set_cookies = socket.response.headers.get_all("Set-Cookie")
    assert any(value.startswith("session=") for value in set_cookies), set_cookies
    client.receive(tuple(("Set-Cookie", value) for value in set_cookies))
    assert _ok(client.get("/get")).json() == {"user": "ada", "ws": True}


def test_a_store_failure_on_load_is_a_503_logged_once(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    client = live.client()
    _ok(client.get("/put/colour/blue"))
    caplog.set_level(logging.ERROR, logger="satchel.asgi")
    live.store.break_down()
    try:
        response = client.get("/get")
    finally:
        live.store.mend()
    _assert_unavailable(response)
    assert len(_failures(caplog)) == 1
    assert _ok(client.get("/get")).json() == {"colour": "blue"}


def test_a_store_failure_on_save_is_a_503_logged_once(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    client = live.client()  # a new session: no Load, the Save fails
    caplog.set_level(logging.ERROR, logger="satchel.asgi")
    live.store.break_down()
    try:
        response = client.get("/put/colour/blue")
    finally:
        live.store.mend()
    _assert_unavailable(response)
    assert len(_failures(caplog)) == 1
    assert _ok(client.get("/get")).json() == {}


def _assert_unavailable(response: HttpResponse) -> None:
    assert response.status == 503, (response.status, response.body[:300])
    assert response.header("Set-Cookie") == []
    assert response.header("Cache-Control") == ["no-store"]
    assert response.header("Retry-After") == ["2"]
    assert b"Service unavailable" in response.body


def test_an_idle_session_is_redirected_once(live: Live) -> None:
    client = live.client()
    _ok(client.get("/put/colour/blue"))
    live.clock.advance(IDLE_TIMEOUT)
    response = client.get("/get")
    assert response.status == 302
    assert response.header("Location") == ["/"]
    expired = response.set_cookie("session")
    assert expired is not None
    assert expired[1].get("max-age") == "0"
    # The ended session's cookie is gone: no loop, an empty session.
    assert _ok(client.get("/get")).json() == {}


def test_several_loads_in_one_request_are_one_session() -> None:
    """Several tasks of one request load at once: one Load, one session."""
    import asyncio

    store = RecordingStore()
    seen: list[int] = []

    async def app(
        scope: satchel_asgi.Scope, receive: satchel_asgi.Receive, send: satchel_asgi.Send
    ) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/gather":
            sessions = await asyncio.gather(*(satchel_asgi.load_session(scope) for _ in range(5)))
            seen.append(len({id(session) for session in sessions}))
        session = await satchel_asgi.load_session(scope)
        session["n"] = int(session.get("n", 0)) + 1
        body = json.dumps(dict(session)).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    server = LiveASGI(satchel_asgi.SessionMiddleware(app, make_settings(), store=store))
    try:
        client = HttpClient(server.base_url)
        _ok(client.get("/"))
        store.ops.clear()
        assert _ok(client.get("/gather")).json() == {"n": 2}
    finally:
        server.stop()
    assert seen == [1]
    assert store.ops.count("Load") == 1
