"""satchel_tornado over real HTTP: every way a Tornado response can end, store
failures, timeouts, laziness, concurrency, cookies and WebSockets."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tornado.httpclient
import tornado.web
import tornado.websocket

from satchel import (
    AsyncMemoryStore,
    AsyncSQLiteStore,
    Session,
    StoreError,
)
from satchel.testing import HttpClient, HttpResponse, ManualClock
from satchel_tornado import STORE_ERROR_BODY, SessionConfig, SessionMixin

from ..stores import AsyncOutracedStore
from ._app import Probe, make_app
from ._live import adapter_settings, app_runner, serving
from ._stores import FailingStore, GatedStore, SwitchableStore

COOKIE = "session"


class Server:
    """A running test app, its client, clock and probe."""

    def __init__(self, url: str, clock: ManualClock, probe: Probe, config: SessionConfig) -> None:
        self.url = url
        self.clock = clock
        self.probe = probe
        self.config = config
        self.client = HttpClient(url)


@pytest.fixture
def serve() -> Iterator[Any]:
    """serve(store=..., **config) starts the test app and returns a `Server`."""
    stack: list[Any] = []

    def start(*, store: Any = None, app_settings: dict[str, Any] | None = None, **options: Any):
        clock = options.pop("clock", None) or ManualClock(time.time())
        probe = Probe()
        settings = options.pop("settings", None) or adapter_settings()
        config = SessionConfig(settings, store=store, clock=clock, **options)
        app = make_app(config, probe, **(app_settings or {}))
        context = serving(app_runner(app))
        url = context.__enter__()
        stack.append(context)
        return Server(url, clock, probe, config)

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)


def ok(response: HttpResponse) -> HttpResponse:
    assert response.status == 200, (response.status, response.body[:300])
    return response


def adapter_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "satchel.tornado" and record.levelno >= logging.ERROR
    ]


# -- laziness -------------------------------------------------------------------


def test_a_handler_that_never_asks_costs_no_store_op_and_sets_nothing(serve: Any) -> None:
    store = SwitchableStore()
    server = serve(store=store)
    ok(server.client.get("/login/ada"))
    assert store.ops  # the login did use the store
    store.ops.clear()
    response = ok(server.client.get("/plain"))
    assert store.ops == []
    assert response.header("Set-Cookie") == []
    assert response.header("Vary") == []
    assert response.header("Cache-Control") == []
    fresh = ok(HttpClient(server.url).get("/plain"))
    assert fresh.header("Set-Cookie") == []
    assert store.ops == []


def test_reading_cookies_does_not_open_the_session(serve: Any) -> None:
    store = SwitchableStore()
    server = serve(store=store)
    ok(server.client.get("/login/ada"))
    store.ops.clear()
    body = ok(server.client.get("/cookies", cookie=f"a=1; {COOKIE}=x; b=two")).json()
    assert body == {"a": "1", "b": "two", COOKIE: "x"}
    assert store.ops == []


# -- how a response can end -------------------------------------------------------


def test_redirect_after_a_change_carries_the_cookie_and_keeps_the_change(serve: Any) -> None:
    server = serve(store=AsyncMemoryStore())
    response = server.client.get("/redirect")
    assert response.status == 302
    assert response.header("Location") == ["/get"]
    assert response.set_cookie(COOKIE) is not None
    assert ok(server.client.get("/get")).json() == {"redirected": "yes"}


def test_raise_finish_after_a_change_keeps_the_change(serve: Any) -> None:
    server = serve(store=AsyncMemoryStore())
    response = server.client.get("/finish-redirect")
    assert response.status == 303
    assert response.set_cookie(COOKIE) is not None
    assert ok(server.client.get("/get")).json() == {"finished": "yes"}


def test_http_error_after_a_change_keeps_the_change(serve: Any) -> None:
    server = serve(store=AsyncMemoryStore())
    response = server.client.get("/forbidden")
    assert response.status == 403
    assert response.set_cookie(COOKIE) is not None
    assert any("no-store" in value for value in response.header("Cache-Control"))
    assert ok(server.client.get("/get")).json() == {"denied": "yes"}


def test_http_error_before_the_session_sets_nothing(serve: Any) -> None:
    server = serve(store=AsyncMemoryStore())
    response = server.client.get("/missing")
    assert response.status == 404
    assert response.header("Set-Cookie") == []


def test_an_unhandled_exception_saves_nothing(serve: Any) -> None:
    store = SwitchableStore()
    server = serve(store=store)
    ok(server.client.get("/put/theme/dark"))
    store.ops.clear()
    response = server.client.get("/crash")
    assert response.status == 500
    assert response.header("Set-Cookie") == []
    assert store.ops == ["Load"]
    assert ok(server.client.get("/get")).json() == {"theme": "dark"}


def test_a_raised_500_http_error_is_a_response_like_any_other(serve: Any) -> None:
    server = serve(store=AsyncMemoryStore())
    response = server.client.get("/server-error")
    assert response.status == 500
    assert response.set_cookie(COOKIE) is not None
    assert ok(server.client.get("/get")).json() == {"failed": "yes"}


def test_concurrent_get_session_calls_share_one_load(serve: Any) -> None:
    store = SwitchableStore()
    server = serve(store=store)
    ok(server.client.get("/put/theme/dark"))
    store.ops.clear()
    assert ok(server.client.get("/twice")).text == "same"
    assert store.ops == ["Load", "Save"]
    assert ok(server.client.get("/get")).json() == {"theme": "dark", "twice": "yes"}


@pytest.mark.parametrize("server_side", [True, False], ids=["server", "cookie"])
def test_streamed_response_saves_the_session_before_the_first_chunk(
    serve: Any, server_side: bool
) -> None:
    server = serve(store=AsyncMemoryStore() if server_side else None)
    response = ok(server.client.get("/stream"))
    assert response.text == "".join(f"chunk {index}\n" for index in range(4))
    assert response.header("Transfer-Encoding") == ["chunked"]  # really streamed
    assert response.set_cookie(COOKIE) is not None
    assert server.probe.wait() == ["late change refused"]
    assert ok(server.client.get("/get")).json() == {"streamed": "yes"}


def test_the_session_cannot_be_opened_after_the_headers_were_sent(serve: Any) -> None:
    server = serve(store=AsyncMemoryStore())
    response = ok(server.client.get("/stream-then-session"))
    assert response.text == "first\nsecond\n"
    assert response.header("Set-Cookie") == []
    assert server.probe.wait() == ["session refused"]


def test_touching_the_session_after_the_response_was_sent_raises(serve: Any) -> None:
    server = serve(store=AsyncMemoryStore())
    response = ok(server.client.get("/late"))
    assert response.text == "sent"
    assert server.probe.wait() == [
        "write refused",
        "read refused",
        "cookie refused",
        "get_session refused",
    ]
    assert ok(server.client.get("/get")).json() == {"a": "1"}


# -- store failures ---------------------------------------------------------------


def _assert_store_error_answer(response: HttpResponse) -> None:
    assert response.status == 503
    assert response.text == STORE_ERROR_BODY
    assert response.header("Content-Type")[0].startswith("text/plain")
    assert response.header("Cache-Control") == ["no-store"]
    assert response.header("Retry-After") == ["2"]
    assert response.header("Set-Cookie") == []


def test_a_save_that_cannot_complete_in_time_is_a_503_not_a_500(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = AsyncOutracedStore()
    server = serve(store=store, settings=adapter_settings(conflict_deadline=0.2))
    ok(server.client.get("/login/ada"))  # a create: nobody to race
    response = server.client.get("/put/theme/dark")
    _assert_store_error_answer(response)
    assert store.conflicts > 3  # retried until the deadline, not given up at once
    [record] = adapter_errors(caplog)
    assert "SessionConflict" in record.getMessage()


def test_store_failure_on_save_is_a_503_without_cookies_logged_once(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = serve(store=FailingStore())
    response = server.client.get("/put-with-cookies")
    _assert_store_error_answer(response)
    errors = adapter_errors(caplog)
    assert len(errors) == 1
    assert "StoreError" in errors[0].getMessage()
    assert "connection refused" in errors[0].getMessage()


def test_store_failure_on_load_is_a_503_and_the_handler_does_not_run(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = SwitchableStore()
    server = serve(store=store)
    ok(server.client.get("/login/ada"))
    cookie = server.client.cookies[COOKIE]
    store.broken = True
    response = server.client.get("/get")
    _assert_store_error_answer(response)
    assert server.probe.events == []  # the handler stopped at get_session()
    errors = adapter_errors(caplog)
    assert len(errors) == 1
    assert cookie not in errors[0].getMessage()
    store.broken = False
    assert ok(server.client.get("/get")).json() == {"user": "ada"}


def test_a_closed_store_is_a_503(serve: Any, tmp_path: Path) -> None:
    store = AsyncSQLiteStore(tmp_path / "gone.sqlite3")
    asyncio.run(store.close())  # the backend is gone before the server starts
    server = serve(store=store)
    _assert_store_error_answer(server.client.get("/put/a/b"))


def test_store_failure_at_the_first_flush_answers_503_and_stops_the_stream(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = serve(store=FailingStore())
    response = server.client.get("/stream")
    _assert_store_error_answer(response)
    assert server.probe.wait() == ["stopped"]
    assert len(adapter_errors(caplog)) == 1


def test_a_user_store_error_hook_chooses_the_answer(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    async def on_store_error(handler: SessionMixin, error: StoreError) -> None:
        seen.append(type(error).__name__)
        handler.redirect("/maintenance")

    server = serve(store=FailingStore(), on_store_error=on_store_error)
    response = server.client.get("/put-with-cookies")
    assert response.status == 302
    assert response.header("Location") == ["/maintenance"]
    assert response.header("Set-Cookie") == []
    assert seen == ["StoreError"]
    assert len(adapter_errors(caplog)) == 1


def test_a_store_error_hook_that_only_writes_is_finished_for_it(serve: Any) -> None:
    def on_store_error(handler: SessionMixin, error: StoreError) -> None:
        handler.set_status(500)
        handler.write("try again later")

    server = serve(store=FailingStore(), on_store_error=on_store_error)
    response = server.client.get("/put/a/b")
    assert (response.status, response.text) == (500, "try again later")


# -- sessions that cannot be saved -----------------------------------------------


@pytest.mark.parametrize(
    ("path", "error"), [("/too-large", "SessionTooLarge"), ("/unstorable", "UnstorableValue")]
)
def test_an_unsavable_session_is_a_500_without_traceback(
    serve: Any, caplog: pytest.LogCaptureFixture, path: str, error: str
) -> None:
    # serve_traceback would show a traceback if the adapter passed one on.
    server = serve(store=None, app_settings={"serve_traceback": True})
    ok(server.client.get("/put/theme/dark"))
    response = server.client.get(path)
    assert response.status == 500
    assert "Traceback" not in response.text
    assert "never sent" not in response.text
    assert response.set_cookie(COOKIE) is None
    assert error in adapter_errors(caplog)[0].getMessage()
    assert ok(server.client.get("/get")).json() == {"theme": "dark"}


# -- timeouts ----------------------------------------------------------------------


def test_a_timeout_hook_answers_instead_of_the_handler(serve: Any) -> None:
    def on_timeout(handler: SessionMixin, session: Session) -> None:
        session.flash("message", f"expired ({session.ended_reason})")
        handler.redirect("/show-flash")

    server = serve(store=AsyncMemoryStore(), on_timeout=on_timeout)
    ok(server.client.get("/login/ada"))
    server.clock.advance(60)
    response = server.client.get("/get")
    assert response.status == 302
    assert response.header("Location") == ["/show-flash"]
    assert server.probe.events == []
    assert ok(server.client.get("/show-flash")).text == "expired (idle)"
    assert ok(server.client.get("/get")).json() == {}


def test_an_async_timeout_hook_that_only_writes_is_finished_for_it(serve: Any) -> None:
    async def on_timeout(handler: SessionMixin, session: Session) -> None:
        await asyncio.sleep(0)
        handler.set_status(401)
        handler.write("session expired")

    server = serve(store=None, on_timeout=on_timeout)
    ok(server.client.get("/login/ada"))
    server.clock.advance(61)
    response = server.client.get("/get")
    assert (response.status, response.text) == (401, "session expired")
    expired = response.set_cookie(COOKIE)
    assert expired is not None
    assert expired[1].get("max-age") == "0"
    assert ok(server.client.get("/get")).json() == {}


def test_the_default_timeout_redirect_goes_to_timeout_location(serve: Any) -> None:
    server = serve(store=AsyncMemoryStore(), timeout_location="/signed-out")
    ok(server.client.get("/login/ada"))
    server.clock.advance(60)
    response = server.client.get("/get")
    assert response.status == 302
    assert response.header("Location") == ["/signed-out"]
    assert response.set_cookie(COOKIE) is not None


# -- concurrency ---------------------------------------------------------------------


def test_concurrent_requests_that_load_the_same_revision_all_survive(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="satchel.tornado")
    parties = 6
    store = GatedStore(parties)
    server = serve(store=store)
    ok(server.client.get("/login/ada"))
    cookie = server.client.cookie_header()
    store.armed = True  # the next `parties` loads wait for each other

    def put(index: int) -> int:
        client = HttpClient(server.url)
        return client.get(f"/put/k{index}/{index}", cookie=cookie, keep_cookies=False).status

    with concurrent.futures.ThreadPoolExecutor(max_workers=parties) as pool:
        statuses = list(pool.map(put, range(parties)))
    assert statuses == [200] * parties
    expected = {"user": "ada", **{f"k{index}": str(index) for index in range(parties)}}
    assert ok(server.client.get("/get")).json() == expected
    assert any("conflict" in record.getMessage() for record in caplog.records)


# -- custom cookies ------------------------------------------------------------------


def test_deleting_a_cookie_expires_it(serve: Any) -> None:
    server = serve(store=None)
    response = ok(server.client.get("/forget/theme", cookie="theme=dark"))
    found = response.set_cookie("theme")
    assert found is not None
    assert found[1].get("max-age") == "0"
    assert response.set_cookie(COOKIE) is None


def test_an_injected_cookie_is_refused(serve: Any) -> None:
    server = serve(store=None)
    response = ok(server.client.get("/bad-cookie"))
    assert response.header("Set-Cookie") == []
    assert server.probe.events == ["refused"]


# -- WebSockets ------------------------------------------------------------------------


async def _socket(url: str, cookie: str | None) -> str:
    request = tornado.httpclient.HTTPRequest(
        url.replace("http://", "ws://"), headers={"Cookie": cookie} if cookie else {}
    )
    connection = await tornado.websocket.websocket_connect(request)
    try:
        message = await connection.read_message()
    finally:
        connection.close()
    assert isinstance(message, str)
    return message


def test_a_websocket_handler_saves_its_session_before_the_handshake(serve: Any) -> None:
    server = serve(store=AsyncMemoryStore())
    ok(server.client.get("/login/ada"))
    message = asyncio.run(_socket(f"{server.url}/socket", server.client.cookie_header()))
    assert message == "hello ada"
    assert ok(server.client.get("/get")).json() == {"socket": "yes", "user": "ada"}


# Tornado's websocket client leaves its socket to the garbage collector when a
# handshake is refused, and a busy machine can collect it after the test's loop
# has closed: that warning is about the test's client, not the server.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_websocket_handshake_with_an_unsaved_session_fails_loudly(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = serve(store=AsyncMemoryStore())
    ok(server.client.get("/login/ada"))
    with pytest.raises(tornado.httpclient.HTTPClientError) as raised:
        asyncio.run(_socket(f"{server.url}/careless-socket", server.client.cookie_header()))
    assert raised.value.code == 500
    assert any("finish_session" in record.getMessage() for record in caplog.records) or any(
        record.exc_info and "finish_session" in str(record.exc_info[1]) for record in caplog.records
    )
