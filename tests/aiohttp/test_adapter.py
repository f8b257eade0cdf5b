"""The aiohttp adapter over real HTTP: every kind of response, failures, hooks."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import satchel_aiohttp
from satchel import AsyncMemoryStore, AsyncSQLiteStore, Session, Settings, StoreError
from satchel.testing import HttpClient, HttpResponse, ManualClock

from ..stores import AsyncOutracedStore
from ._app import make_app
from ._server import LiveApp
from ._stores import CountingStore, FailingStore
from .conftest import IDLE_TIMEOUT

Serve = Callable[[web.Application], LiveApp]
Start = Callable[..., tuple[LiveApp, HttpClient]]


@pytest.fixture
def start(serve: Serve, web_settings: Settings, web_clock: ManualClock) -> Start:
    """Serve the test app with `setup(**options)`; return it and a client."""

    def run(**options: Any) -> tuple[LiveApp, HttpClient]:
        options.setdefault("clock", web_clock)
        live = serve(make_app(options.pop("settings", web_settings), **options))
        return live, HttpClient(live.base_url)

    return run


@pytest.fixture(params=["memory", "cookie"])
def store(request: pytest.FixtureRequest) -> AsyncMemoryStore | None:
    return AsyncMemoryStore() if request.param == "memory" else None


def session_cookie(response: HttpResponse) -> tuple[str, dict[str, str]] | None:
    return response.set_cookie("session")


def adapter_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "satchel.aiohttp" and record.levelno >= logging.ERROR
    ]


# -- responses raised as exceptions -------------------------------------------


def test_redirect_raised_after_a_change_carries_the_cookie(
    start: Start, store: AsyncMemoryStore | None
) -> None:
    _, client = start(store=store)
    response = client.get("/redirect/ada")
    assert response.status == 302
    assert response.header("Location") == ["/whoami"]
    assert session_cookie(response) is not None
    assert "no-store" in response.header("Cache-Control")
    assert response.header("Vary") == ["Cookie"]
    assert client.get("/whoami").text == "ada"


def test_error_raised_as_an_http_exception_keeps_the_change(
    start: Start, store: AsyncMemoryStore | None
) -> None:
    _, client = start(store=store)
    response = client.get("/forbid/ada")
    assert response.status == 403
    assert response.text == "forbidden"
    assert session_cookie(response) is not None
    assert client.get("/whoami").text == "ada"


def test_unknown_route_costs_no_store_op_and_sets_nothing(start: Start) -> None:
    counting = CountingStore()
    _, client = start(store=counting)
    assert client.get("/login/ada").status == 200
    counting.ops.clear()
    response = client.get("/no-such-page")
    assert response.status == 404
    assert response.header("Set-Cookie") == []
    assert response.header("Vary") == []
    assert counting.ops == []


def test_unhandled_error_saves_nothing_and_shows_no_traceback(
    start: Start, store: AsyncMemoryStore | None
) -> None:
    _, client = start(store=store)
    assert client.get("/login/ada").status == 200
    response = client.get("/crash/bob")
    assert response.status == 500
    assert response.header("Set-Cookie") == []
    assert "Traceback" not in response.text
    assert "the handler failed" not in response.text
    assert client.get("/whoami").text == "ada"


# -- responses prepared by the handler ----------------------------------------


def test_streamed_response_carries_the_session_change(
    start: Start, store: AsyncMemoryStore | None
) -> None:
    _, client = start(store=store)
    response = client.get("/stream/ada")
    assert response.status == 200
    assert response.text == "part 0\npart 1\npart 2\n"
    assert response.header("Transfer-Encoding") == ["chunked"]
    assert session_cookie(response) is not None
    assert "no-store" in response.header("Cache-Control")
    assert client.get("/whoami").text == "ada"


def test_session_touched_after_the_headers_went_raises_protocol_error(
    start: Start, store: AsyncMemoryStore | None
) -> None:
    _, client = start(store=store)
    response = client.get("/late")
    assert response.status == 200
    assert response.text.splitlines() == [
        "session: ProtocolError",
        "set_cookie: ProtocolError",
        "get_session: ProtocolError",
    ]
    assert response.set_cookie("late") is None
    # What changed before prepare() landed; nothing after it did.
    assert client.get("/get").json() == {"before": "yes"}


def test_session_kept_past_its_response_raises_protocol_error(
    start: Start, store: AsyncMemoryStore | None
) -> None:
    _, client = start(store=store)
    assert client.get("/keep").text == "kept"
    assert client.get("/touch-kept").text == "ProtocolError"
    assert client.get("/get").json() == {"kept": "yes"}


def test_session_of_a_failed_request_raises_protocol_error_later(
    start: Start, store: AsyncMemoryStore | None
) -> None:
    _, client = start(store=store)
    assert client.get("/keep-and-crash").status == 500
    assert client.get("/touch-kept").text == "ProtocolError"
    assert client.get("/get").json() == {}


def test_websocket_handshake_carries_the_session_change(
    start: Start, store: AsyncMemoryStore | None
) -> None:
    live, _ = start(store=store)

    async def talk() -> tuple[str, str, Any]:
        jar = aiohttp.CookieJar(unsafe=True)  # keep cookies from 127.0.0.1
        async with aiohttp.ClientSession(live.base_url, cookie_jar=jar) as client:
            async with client.get("/login/ada") as response:
                assert response.status == 200
            async with client.ws_connect("/ws") as ws:
                cookie = ws._response.headers.getone("Set-Cookie", "")
                message = await ws.receive_str()
            async with client.get("/get") as response:
                data = await response.json()
        return cookie, message, data

    cookie, message, data = asyncio.run(talk())
    assert cookie.startswith("session=")
    assert message == "user=ada late=ProtocolError"
    assert data == {"user": "ada", "ws": "yes"}


# -- store failures -------------------------------------------------------------


def test_store_gone_when_the_session_loads_is_a_503_logged_once(
    start: Start, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sqlite = AsyncSQLiteStore(tmp_path / "sessions.sqlite3")
    live, client = start(store=sqlite)
    assert client.get("/login/ada").status == 200
    cookie = client.cookies["session"]
    live.call(sqlite.close())  # the backend is gone
    caplog.set_level(logging.INFO, logger="satchel.aiohttp")
    response = client.get("/whoami")
    assert response.status == 503
    assert response.header("Set-Cookie") == []
    assert response.header("Content-Type")[0].startswith("text/plain")
    assert response.header("Cache-Control") == ["no-store"]
    assert response.header("Retry-After") == ["2"]
    assert "Traceback" not in response.text
    records = adapter_errors(caplog)
    assert len(records) == 1
    message = records[0].getMessage()
    assert "StoreError" in message
    assert cookie not in message


@pytest.mark.parametrize("path", ["/login/ada", "/redirect/ada", "/forbid/ada", "/stream/ada"])
def test_store_failure_when_saving_is_a_503_without_cookie(
    start: Start, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    failing = FailingStore("Save")
    _, client = start(store=failing)
    caplog.set_level(logging.INFO, logger="satchel.aiohttp")
    response = client.get(path)
    assert response.status == 503
    assert response.header("Set-Cookie") == []
    assert "part 0" not in response.text  # the stream never started
    assert len(adapter_errors(caplog)) == 1
    failing.failing.clear()
    assert client.get("/whoami").text == ""


def test_a_save_that_cannot_complete_in_time_is_a_503_not_a_500(
    start: Start, web_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    store = AsyncOutracedStore()
    _, client = start(store=store, settings=web_settings.evolve(conflict_deadline=0.2))
    assert client.get("/login/ada").status == 200  # a create: nobody to race
    caplog.set_level(logging.INFO, logger="satchel.aiohttp")
    response = client.get("/put/theme/dark")
    assert response.status == 503
    assert response.header("Retry-After") == ["2"]
    assert response.header("Cache-Control") == ["no-store"]
    assert response.header("Set-Cookie") == []
    assert store.conflicts > 3  # retried until the deadline, not given up at once
    [record] = adapter_errors(caplog)
    assert "SessionConflict" in record.getMessage()
    assert client.get("/whoami").text == "ada"  # the session itself is intact


def test_store_error_hook_chooses_the_response(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[StoreError] = []

    async def on_store_error(request: web.Request, error: StoreError) -> web.StreamResponse:
        seen.append(error)
        return web.Response(status=500, text=f"try later ({request.path})")

    _, client = start(store=FailingStore("Save"), on_store_error=on_store_error)
    caplog.set_level(logging.INFO, logger="satchel.aiohttp")
    response = client.get("/login/ada")
    assert response.status == 500
    assert response.text == "try later (/login/ada)"
    assert response.header("Set-Cookie") == []
    assert len(seen) == 1
    assert isinstance(seen[0], StoreError)
    assert len(adapter_errors(caplog)) == 1  # still logged once


# -- application errors at finish ---------------------------------------------


@pytest.mark.parametrize(
    ("path", "error"), [("/too-big", "SessionTooLarge"), ("/unstorable", "UnstorableValue")]
)
def test_session_that_cannot_be_kept_is_a_logged_500(
    start: Start, caplog: pytest.LogCaptureFixture, path: str, error: str
) -> None:
    _, client = start()  # cookie storage: the size limit applies
    caplog.set_level(logging.INFO, logger="satchel.aiohttp")
    response = client.get(path)
    assert response.status == 500
    assert response.header("Set-Cookie") == []
    assert "Traceback" not in response.text
    records = adapter_errors(caplog)
    assert len(records) == 1
    assert error in records[0].getMessage()


# -- laziness -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nothing", "/cookies", "/set/theme/dark"])
def test_route_that_never_asks_costs_nothing(start: Start, path: str) -> None:
    counting = CountingStore()
    _, client = start(store=counting)
    for cookie in (None, "login"):
        if cookie == "login":
            assert client.get("/login/ada").status == 200
        counting.ops.clear()
        response = client.get(path)
        assert response.status == 200
        assert counting.ops == []
        assert session_cookie(response) is None
        assert response.header("Vary") == []
        assert response.header("Cache-Control") == []


def test_route_that_asks_loads_once(start: Start) -> None:
    counting = CountingStore()
    _, client = start(store=counting)
    assert client.get("/login/ada").status == 200
    counting.ops.clear()
    assert client.get("/whoami").text == "ada"
    assert counting.ops == ["Load"]


def test_session_asked_for_by_two_tasks_loads_once(start: Start) -> None:
    counting = CountingStore()
    _, client = start(store=counting)
    assert client.get("/login/ada").status == 200
    counting.ops.clear()
    assert client.get("/twice").text == "same=True user=ada"
    assert counting.ops == ["Load"]


# -- timeouts -------------------------------------------------------------------


def test_default_redirect_goes_to_the_timeout_location(
    start: Start, web_clock: ManualClock, store: AsyncMemoryStore | None
) -> None:
    _, client = start(store=store, timeout_location="/signed-out")
    assert client.get("/login/ada").status == 200
    web_clock.advance(IDLE_TIMEOUT)
    response = client.get("/whoami")
    assert response.status == 302
    assert response.header("Location") == ["/signed-out"]
    expired = session_cookie(response)
    assert expired is not None
    assert expired[1].get("max-age") == "0"
    assert client.get("/whoami").status == 200


async def redirect_with_reason(request: web.Request, session: Session) -> None:
    raise web.HTTPSeeOther(f"/sign-in?reason={session.ended_reason}")


def test_timeout_hook_can_answer_with_its_own_redirect(
    start: Start, web_clock: ManualClock, store: AsyncMemoryStore | None
) -> None:
    _, client = start(store=store, on_timeout=redirect_with_reason)
    assert client.get("/login/ada").status == 200
    web_clock.advance(IDLE_TIMEOUT)
    response = client.get("/whoami")
    assert response.status == 303
    assert response.header("Location") == ["/sign-in?reason=idle"]
    assert client.get("/whoami").text == ""


def test_timeout_hook_sees_the_absolute_timeout(
    start: Start, web_settings: Settings, web_clock: ManualClock, store: AsyncMemoryStore | None
) -> None:
    settings = web_settings.evolve(absolute_timeout=IDLE_TIMEOUT + 30)
    _, client = start(store=store, settings=settings, on_timeout=redirect_with_reason)
    assert client.get("/login/ada").status == 200
    web_clock.advance(IDLE_TIMEOUT - 10)
    assert client.get("/whoami").text == "ada"  # active, so the idle timer restarts
    web_clock.advance(40)
    response = client.get("/whoami")
    assert response.status == 303
    assert response.header("Location") == ["/sign-in?reason=absolute"]


def test_timeout_hook_that_returns_lets_the_handler_carry_on(
    start: Start, web_clock: ManualClock, store: AsyncMemoryStore | None
) -> None:
    calls: list[str | None] = []

    async def note_and_continue(request: web.Request, session: Session) -> None:
        calls.append(session.ended_reason)
        session.flash("message", "Your session expired")

    _, client = start(store=store, on_timeout=note_and_continue)
    assert client.get("/login/ada").status == 200
    old = client.cookies["session"]
    web_clock.advance(IDLE_TIMEOUT)
    response = client.get("/whoami")
    assert response.status == 200
    assert response.text == ""
    assert calls == ["idle"]
    assert client.cookies["session"] != old
    assert client.get("/show-flash").text == "Your session expired"
    assert calls == ["idle"]


@pytest.mark.parametrize("storage", ["server", "cookie"])
def test_timeout_hook_runs_once_when_two_tasks_ask(
    start: Start, web_clock: ManualClock, storage: str
) -> None:
    calls: list[str | None] = []

    async def count(request: web.Request, session: Session) -> None:
        calls.append(session.ended_reason)

    _, client = start(store=CountingStore() if storage == "server" else None, on_timeout=count)
    assert client.get("/login/ada").status == 200
    web_clock.advance(IDLE_TIMEOUT)
    assert client.get("/twice").text == "same=True user="
    assert calls == ["idle"]


# -- concurrency ------------------------------------------------------------------


def test_concurrent_requests_on_one_session_all_survive(start: Start, tmp_path: Path) -> None:
    sqlite = AsyncSQLiteStore(tmp_path / "sessions.sqlite3")
    live, client = start(store=sqlite)
    assert client.get("/login/ada").status == 200
    cookie = client.cookie_header()
    assert cookie is not None

    async def put_all() -> list[int]:
        async with aiohttp.ClientSession(live.base_url) as http:

            async def put(index: int) -> int:
                async with http.get(f"/put/k{index}/{index}", headers={"Cookie": cookie}) as r:
                    return r.status

            return await asyncio.gather(*(put(index) for index in range(20)))

    try:
        assert asyncio.run(put_all()) == [200] * 20
        assert client.get("/get").json() == {"user": "ada", **{f"k{i}": str(i) for i in range(20)}}
    finally:
        live.stop(before_close=sqlite.close)


# -- cookies ------------------------------------------------------------------------


def test_custom_cookies_are_set_and_deleted_through_satchel(start: Start) -> None:
    _, client = start()
    response = client.get("/set/theme/dark")
    found = response.set_cookie("theme")
    assert found is not None
    value, attributes = found
    assert value == "dark"
    assert attributes["max-age"] == "60"
    assert attributes["path"] == "/"
    assert "secure" in attributes
    assert "httponly" in attributes
    assert client.get("/cookies").json() == {"theme": "dark"}
    deleted = client.get("/delete/theme").set_cookie("theme")
    assert deleted is not None
    assert deleted[1]["max-age"] == "0"


@pytest.mark.parametrize("name", ["a%3Bb", "session", "a%20b"])
def test_unsafe_custom_cookie_is_refused(start: Start, name: str) -> None:
    _, client = start()
    response = client.get(f"/set/{name}/x")
    assert response.status == 400
    assert response.header("Set-Cookie") == []


def raw_get(live: LiveApp, path: str, cookie_headers: list[str]) -> tuple[int, bytes]:
    """GET with several Cookie header lines, as HTTP/1.1 allows a client to send."""
    connection = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    try:
        connection.putrequest("GET", path)
        for value in cookie_headers:
            connection.putheader("Cookie", value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_every_cookie_header_is_read(start: Start) -> None:
    live, client = start(store=AsyncMemoryStore())
    assert client.get("/login/ada").status == 200
    session = client.cookies["session"]
    status, body = raw_get(live, "/cookies", ["a=1; junk; a=2", f"b=2; session={session}"])
    assert status == 200
    assert json.loads(body) == {"a": "1", "b": "2", "session": session}
    status, body = raw_get(live, "/whoami", ["theme=dark", f"session={session}"])
    assert (status, body) == (200, b"ada")


def test_get_session_without_setup_names_the_fix(serve: Serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        try:
            await satchel_aiohttp.get_session(request)
        except RuntimeError as error:
            return web.Response(text=str(error))
        return web.Response(text="no error")

    app = web.Application()
    app.router.add_get("/", handler)
    live = serve(app)
    assert "satchel_aiohttp.setup(app" in HttpClient(live.base_url).get("/").text


def test_store_failure_at_a_websocket_handshake_refuses_it(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    live, _ = start(store=FailingStore("Save"))
    caplog.set_level(logging.INFO, logger="satchel.aiohttp")

    async def connect() -> int:
        async with aiohttp.ClientSession(live.base_url) as client:
            try:
                async with client.ws_connect("/ws"):
                    return 101
            except aiohttp.WSServerHandshakeError as error:
                return error.status

    assert asyncio.run(connect()) == 503
    assert len(adapter_errors(caplog)) == 1


# -- placement among middlewares and sub-applications ---------------------------


def test_other_middlewares_can_use_the_session(serve: Serve, web_settings: Settings) -> None:
    @web.middleware
    async def greet(request: web.Request, handler: Any) -> web.StreamResponse:
        session = await satchel_aiohttp.get_session(request)
        response = await handler(request)
        response.headers["X-User"] = str(session.get("user", "nobody"))
        return response

    # Listed before setup() runs, yet inside the session middleware.
    app = make_app(web_settings, middlewares=[greet], store=AsyncMemoryStore())
    client = HttpClient(serve(app).base_url)
    assert client.get("/login/ada").header("X-User") == ["ada"]
    assert client.get("/nothing").header("X-User") == ["ada"]


def test_a_sub_application_shares_the_parent_session(serve: Serve, web_settings: Settings) -> None:
    parent = make_app(web_settings, store=AsyncMemoryStore())
    child = web.Application()

    async def child_stream(request: web.Request) -> web.StreamResponse:
        session = await satchel_aiohttp.get_session(request)
        session["child"] = "yes"
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"streamed from the child app")
        await response.write_eof()
        return response

    child.router.add_get("/stream", child_stream)
    parent.add_subapp("/child/", child)
    client = HttpClient(serve(parent).base_url)
    assert client.get("/login/ada").status == 200
    response = client.get("/child/stream")
    assert response.text == "streamed from the child app"
    assert session_cookie(response) is not None
    assert client.get("/get").json() == {"child": "yes", "user": "ada"}
