"""The WSGI middleware over real HTTP: failures, redirects, streaming, laziness, timeouts."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import logging
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

import pytest

from satchel import (
    AsyncMemoryStore,
    ConfigurationError,
    MemoryStore,
    Op,
    ProtocolError,
    Result,
    Save,
    Session,
    SQLiteStore,
    StoreError,
)
from satchel.testing import HttpClient, HttpResponse, ManualClock
from satchel_demo._wsgi import DemoApp
from satchel_wsgi import (
    SessionMiddleware,
    SessionTimedOut,
    get_handle,
    get_session,
)

from ..stores import CountingStore, OutracedStore
from .conftest import Serve
from .helpers import make_settings

TEXT = [("Content-Type", "text/plain; charset=utf-8")]
App = Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]


def records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "satchel.wsgi" and r.levelno >= logging.ERROR]


def session_cookie(response: HttpResponse) -> tuple[str, dict[str, str]] | None:
    return response.set_cookie("session")


# -- a miniature framework: views raise their redirects and HTTP errors -----------


class Redirect(Exception):
    def __init__(self, location: str) -> None:
        self.location = location


class HTTPError(Exception):
    def __init__(self, status: str) -> None:
        self.status = status


def framework(views: dict[str, Callable[[Session], str]]) -> App:
    """Dispatch PATH_INFO to a view taking the session; turn the exceptions a
    view raises into responses, as Flask and Bottle do."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        view = views.get(environ["PATH_INFO"])
        headers = list(TEXT)
        try:
            if view is None:
                raise HTTPError("404 Not Found")
            status, body = "200 OK", view(get_session(environ))
        except Redirect as redirect:
            status, body = "303 See Other", ""
            headers.append(("Location", redirect.location))
        except HTTPError as error:
            status, body = error.status, error.status
        start_response(status, headers)
        return [body.encode()]

    return app


def login_then_redirect(session: Session) -> str:
    session.regenerate()
    session["user"] = "ada"
    raise Redirect("/home")


def forbid(session: Session) -> str:
    session["tried"] = True
    raise HTTPError("403 Forbidden")


def dump(session: Session) -> str:
    return json.dumps(dict(session), sort_keys=True)


VIEWS: dict[str, Callable[[Session], str]] = {
    "/login": login_then_redirect,
    "/home": lambda session: str(session.get("user", "")),
    "/forbid": forbid,
    "/get": dump,
}


def serve_probe(client: HttpClient) -> Any:
    """Read the session through the same server: `/` with `probe` in the query."""
    return client.get("/?probe").json()


@pytest.fixture
def probing_serve(serve: Serve) -> Serve:
    """`serve`, with every app answering ``/?probe`` with its session as JSON."""

    def start(app: App, **options: Any) -> tuple[HttpClient, SessionMiddleware]:
        def probing(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            if environ.get("QUERY_STRING") == "probe":
                body = dump(get_session(environ)).encode()
                start_response("200 OK", [("Content-Type", "application/json")])
                return [body]
            return app(environ, start_response)

        return serve(probing, **options)

    return start


# -- store failures ------------------------------------------------------------


def test_store_failure_on_load_is_a_503_without_cookies_logged_once(
    serve: Serve, sqlite_store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = serve(DemoApp(secure=False), store=sqlite_store)
    assert client.get("/login/ada").status == 200
    cookie = client.cookies["session"]
    sqlite_store.close()  # the backend is gone
    caplog.clear()
    response = client.get("/whoami")
    assert response.status == 503
    assert response.header("Set-Cookie") == []
    assert "text/plain" in response.header("Content-Type")[0]
    assert response.header("Cache-Control") == ["no-store"]
    assert response.header("Retry-After") == ["2"]
    assert b"Traceback" not in response.body
    [record] = records(caplog)
    assert "StoreError" in record.getMessage()
    assert cookie not in record.getMessage()


def test_store_failure_on_save_is_a_503_without_cookies_logged_once(
    serve: Serve, sqlite_store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = serve(DemoApp(secure=False), store=sqlite_store)
    sqlite_store.close()
    response = client.get("/login/ada")  # a new visitor: no Load, the Save fails
    assert response.status == 503
    assert response.header("Set-Cookie") == []
    assert len(records(caplog)) == 1


def test_a_save_that_cannot_complete_in_time_is_a_503_not_a_500(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    store = OutracedStore()
    client, _ = serve(
        DemoApp(secure=False), store=store, settings=make_settings(conflict_deadline=0.2)
    )
    assert client.get("/login/ada").status == 200  # a create: nobody to race
    caplog.clear()
    response = client.get("/put/theme/dark")
    assert response.status == 503
    assert response.header("Retry-After") == ["2"]
    assert response.header("Cache-Control") == ["no-store"]
    assert response.header("Set-Cookie") == []
    assert store.conflicts > 3  # retried until the deadline, not given up at once
    [record] = records(caplog)
    assert "SessionConflict" in record.getMessage()
    assert client.get("/whoami").text == "ada"


def test_a_user_hook_answers_store_failures(
    serve: Serve, sqlite_store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    def on_store_error(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        error = get_handle(environ).store_error
        body = json.dumps({"error": type(error).__name__}).encode()
        start_response(
            "503 Service Unavailable",
            [("Content-Type", "application/json"), ("Retry-After", "30")],
        )
        return [body]

    client, _ = serve(DemoApp(secure=False), store=sqlite_store, on_store_error=on_store_error)
    client.get("/login/ada")
    sqlite_store.close()
    response = client.get("/counter")
    assert response.status == 503
    assert response.json() == {"error": "StoreError"}
    assert response.header("Retry-After") == ["30"]
    assert response.header("Set-Cookie") == []
    assert len(records(caplog)) == 1  # logged even when a hook answers


def test_store_failure_wins_over_an_app_that_swallows_it(
    serve: Serve, sqlite_store: SQLiteStore
) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            get_session(environ)["seen"] = True
        except StoreError:
            start_response("500 Internal Server Error", TEXT)  # what a framework would do
            return [b"oops"]
        start_response("200 OK", TEXT)
        return [b"fine"]

    client, _ = serve(app, store=sqlite_store)
    assert client.get("/").text == "fine"
    sqlite_store.close()
    response = client.get("/")
    assert response.status == 503
    assert b"oops" not in response.body


def test_store_failure_in_a_generator_app(serve: Serve, sqlite_store: SQLiteStore) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        session = get_session(environ)  # runs on the server's first next()
        session["visits"] = session.get("visits", 0) + 1
        start_response("200 OK", TEXT)
        yield b"counted"

    client, _ = serve(app, store=sqlite_store)
    assert client.get("/").text == "counted"
    sqlite_store.close()
    response = client.get("/")
    assert response.status == 503
    assert response.header("Set-Cookie") == []


# -- application errors at finish ---------------------------------------------------


def test_an_unstorable_value_is_a_500_and_logged(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        get_session(environ)["bad"] = object()
        start_response("200 OK", TEXT)
        return [b"never sent"]

    client, _ = serve(app, store=MemoryStore())
    response = client.get("/")
    assert response.status == 500
    assert b"never sent" not in response.body
    assert b"Traceback" not in response.body
    assert response.header("Set-Cookie") == []
    [record] = records(caplog)
    assert "UnstorableValue" in record.getMessage()


def test_a_session_too_large_for_its_cookie_is_a_500_and_logged(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        get_session(environ)["blob"] = "x" * 6000
        start_response("200 OK", TEXT)
        return [b"never sent"]

    client, _ = serve(app)  # cookie storage
    response = client.get("/")
    assert response.status == 500
    assert b"Traceback" not in response.body
    [record] = records(caplog)
    assert "SessionTooLarge" in record.getMessage()


# -- redirects and errors raised as exceptions ------------------------------------


def test_a_redirect_raised_after_login_carries_the_new_session(serve: Serve) -> None:
    store = MemoryStore()
    client, _ = serve(framework(VIEWS), store=store)
    response = client.get("/login")
    assert response.status == 303
    assert response.header("Location") == ["/home"]
    assert session_cookie(response) is not None
    assert client.get("/home").text == "ada"
    assert len(store) == 1


def test_an_http_error_raised_after_a_change_keeps_the_change(serve: Serve) -> None:
    client, _ = serve(framework(VIEWS), store=MemoryStore())
    response = client.get("/forbid")
    assert response.status == 403
    assert session_cookie(response) is not None
    assert client.get("/get").json() == {"tried": True}


def test_an_error_page_started_with_exc_info_carries_the_session(probing_serve: Serve) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        get_session(environ)["step"] = "saved"
        start_response("200 OK", TEXT)
        try:
            raise ValueError("rendering failed")
        except ValueError:
            # PEP 3333: an application may replace its response before any body is sent.
            start_response("500 Internal Server Error", TEXT, sys.exc_info())
            return [b"error page"]

    client, _ = probing_serve(app, store=MemoryStore())
    response = client.get("/")
    assert response.status == 500
    assert response.text == "error page"
    assert session_cookie(response) is not None
    assert serve_probe(client) == {"step": "saved"}


# -- streaming ------------------------------------------------------------------------


def test_a_generator_app_session_change_lands(probing_serve: Serve) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        session = get_session(environ)
        session["pages"] = session.get("pages", 0) + 1
        start_response("200 OK", TEXT)
        for index in range(3):
            yield f"part {index}\n".encode()

    client, _ = probing_serve(app, store=MemoryStore())
    first = client.get("/")
    assert first.text == "part 0\npart 1\npart 2\n"
    assert session_cookie(first) is not None
    client.get("/")
    assert serve_probe(client) == {"pages": 2}


def test_the_write_callable_sends_the_session_headers_first(probing_serve: Serve) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        get_session(environ)["written"] = True
        write = start_response("200 OK", TEXT)
        write(b"one\n")
        write(b"two\n")
        return []

    client, _ = probing_serve(app, store=MemoryStore())
    response = client.get("/")
    assert response.text == "one\ntwo\n"
    assert session_cookie(response) is not None
    assert serve_probe(client) == {"written": True}


def test_touching_the_session_after_start_response_raises(probing_serve: Serve) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        handle = get_handle(environ)
        session = handle.session
        session["before"] = 1
        start_response("200 OK", TEXT)
        yield b"sent\n"
        attempts: list[Callable[[], object]] = [
            lambda: session.__setitem__("after", 1),
            lambda: handle.session,
            lambda: handle.set_cookie("late", "1"),
        ]
        for attempt in attempts:
            try:
                attempt()
            except ProtocolError:
                yield b"refused\n"
            else:
                yield b"accepted\n"

    client, _ = probing_serve(app, store=MemoryStore())
    assert client.get("/").text == "sent\nrefused\nrefused\nrefused\n"
    assert serve_probe(client) == {"before": 1}
    assert "late" not in client.cookies


# -- laziness --------------------------------------------------------------------------


def test_a_request_that_never_asks_costs_nothing(serve: Serve) -> None:
    store = CountingStore()
    client, _ = serve(DemoApp(secure=False), store=store)
    assert client.get("/login/ada").status == 200
    store.ops.clear()
    for path in ("/cookies", "/cookie/theme/dark", "/no-such-page"):
        response = client.get(path)
        assert response.status in (200, 404)
        assert session_cookie(response) is None
        assert response.header("Vary") == []
        assert response.header("Cache-Control") == []
    assert store.ops == []
    assert client.get("/whoami").text == "ada"
    assert store.ops == ["Load"]


# -- custom cookies ----------------------------------------------------------------------


def test_custom_cookies_are_read_set_and_deleted_without_the_session(serve: Serve) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        handle = get_handle(environ, "my.session")
        if environ["PATH_INFO"] == "/set":
            handle.set_cookie("theme", "dark", secure=False, max_age=600)
        elif environ["PATH_INFO"] == "/delete":
            handle.delete_cookie("theme", secure=False)
        body = json.dumps(dict(handle.request_cookies)).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    store = CountingStore()
    client, _ = serve(app, store=store, environ_key="my.session")
    set_response = client.get("/set")
    found = set_response.set_cookie("theme")
    assert found is not None
    assert found[0] == "dark"
    assert found[1]["max-age"] == "600"
    assert client.get("/").json() == {"theme": "dark"}
    deleted = client.get("/delete").set_cookie("theme")
    assert deleted is not None
    assert deleted[1]["max-age"] == "0"
    assert "theme" not in client.cookies
    assert store.ops == []


def test_an_injecting_cookie_name_is_refused(serve: Serve) -> None:
    client, _ = serve(DemoApp(secure=False))
    response = client.get("/cookie/a%3Bb/x")  # the name arrives as "a;b"
    assert response.status == 400
    assert response.header("Set-Cookie") == []


# -- timeouts ---------------------------------------------------------------------------


def test_the_default_timeout_response_redirects(serve: Serve, clock: ManualClock) -> None:
    client, _ = serve(DemoApp(secure=False), store=MemoryStore(), timeout_location="/signin")
    client.get("/login/ada")
    clock.advance(60)
    response = client.get("/whoami")
    assert response.status == 302
    assert response.header("Location") == ["/signin"]
    expired = session_cookie(response)
    assert expired is not None
    assert expired[1]["max-age"] == "0"
    assert client.get("/whoami").text == ""


def test_a_timeout_hook_answers_with_the_reason(serve: Serve, clock: ManualClock) -> None:
    def on_timeout(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        reason = get_handle(environ).ended_reason
        start_response("401 Unauthorized", [("Content-Type", "text/plain")])
        return [f"timed out: {reason}".encode()]

    settings = make_settings(absolute_timeout=100)
    client, _ = serve(
        DemoApp(secure=False), store=MemoryStore(), settings=settings, on_timeout=on_timeout
    )
    client.get("/login/ada")
    clock.advance(50)
    assert client.get("/counter").text == "1"  # activity: the idle timeout restarts
    clock.advance(45)
    assert client.get("/whoami").text == "ada"
    clock.advance(5)  # 100 s after creation: the absolute timeout
    response = client.get("/whoami")
    assert response.status == 401
    assert response.text == "timed out: absolute"
    assert session_cookie(response) is not None
    assert client.get("/whoami").text == ""


def flash_and_redirect(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """A timeout hook that tells the user why, on the page it redirects to."""
    session = get_session(environ)  # the fresh session that replaces the ended one
    session.flash("message", f"Your session ended ({session.ended_reason}).")
    start_response("303 See Other", [("Location", "/"), ("Content-Type", "text/plain")])
    return [b""]


def test_a_timeout_hook_can_flash_in_the_fresh_session(serve: Serve, clock: ManualClock) -> None:
    client, _ = serve(DemoApp(secure=False), store=MemoryStore(), on_timeout=flash_and_redirect)
    client.get("/login/ada")
    clock.advance(60)
    response = client.get("/whoami")
    assert response.status == 303
    assert session_cookie(response) is not None
    page = client.get("/")
    assert "Your session ended (idle)." in page.text
    assert "Logged in as: <strong>nobody</strong>" in page.text
    assert client.get("/whoami").status == 200


class SavesFail:
    """A `MemoryStore` whose saves fail (raise `StoreError`) once `failing` is set."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.failing = False

    def execute(self, op: Op) -> Result:
        if self.failing and isinstance(op, Save):
            raise StoreError("saves refused")
        return self.inner.execute(op)


def test_a_store_failure_while_the_timeout_response_starts_is_a_503(
    serve: Serve, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = SavesFail()
    client, _ = serve(DemoApp(secure=False), store=store, on_timeout=flash_and_redirect)
    client.get("/login/ada")
    store.failing = True
    clock.advance(60)
    response = client.get("/whoami")  # the hook's flash needs a Save, which fails
    assert response.status == 503
    assert response.text.startswith("Service unavailable")
    assert response.header("Set-Cookie") == []
    assert response.header("Location") == []
    assert len(records(caplog)) == 1


def test_a_timeout_the_app_swallows_still_gets_the_timeout_response(
    serve: Serve, clock: ManualClock
) -> None:
    closed = threading.Event()

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"error page"

        def close(self) -> None:
            closed.set()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/login":
            get_session(environ)["user"] = "ada"
            start_response("200 OK", TEXT)
            return [b"ok"]
        # What a framework's "500 on any exception" handler does:
        with contextlib.suppress(SessionTimedOut):
            get_session(environ)
        start_response("500 Internal Server Error", TEXT)
        return Body()

    client, _ = serve(app, store=MemoryStore())
    client.get("/login")
    clock.advance(61)
    response = client.get("/page")
    assert response.status == 302
    assert response.header("Location") == ["/"]
    assert b"error page" not in response.body
    # The dropped body is still closed (the server may do it just after replying).
    assert closed.wait(5)


def test_a_timeout_in_a_generator_app_redirects(serve: Serve, clock: ManualClock) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        user = get_session(environ).setdefault("user", "ada")
        start_response("200 OK", TEXT)
        yield str(user).encode()

    client, _ = serve(app)  # cookie storage
    assert client.get("/").text == "ada"
    clock.advance(60)
    response = client.get("/")
    assert response.status == 302
    assert client.get("/").status == 200


def test_a_generator_app_that_swallows_a_timeout_has_its_output_dropped(
    serve: Serve, clock: ManualClock
) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        try:
            get_session(environ)["user"] = "ada"
        except SessionTimedOut:
            start_response("500 Internal Server Error", TEXT)
            yield b"error page"
            return
        start_response("200 OK", TEXT)
        yield b"ok"

    client, _ = serve(app, store=MemoryStore())
    assert client.get("/").text == "ok"
    clock.advance(60)
    response = client.get("/")
    assert response.status == 302
    assert b"error page" not in response.body
    assert response.body == b"Your session has timed out.\n"


# -- concurrency and closing -----------------------------------------------------------


def test_concurrent_requests_on_one_session_all_survive(
    serve: Serve, sqlite_store: SQLiteStore
) -> None:
    client, _ = serve(DemoApp(secure=False), store=sqlite_store)
    client.get("/login/ada")
    cookie = client.cookie_header()

    def put(index: int) -> int:
        return client.get(f"/put/k{index}/{index}", cookie=cookie, keep_cookies=False).status

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(put, range(36)))
    assert statuses == [200] * 36
    assert client.get("/get").json() == {"user": "ada", **{f"k{i}": str(i) for i in range(36)}}


def test_the_app_iterable_is_closed(serve: Serve) -> None:
    closed: queue.Queue[str] = queue.Queue()

    class Body:
        def __init__(self, name: str) -> None:
            self.name = name

        def __iter__(self) -> Iterator[bytes]:
            yield self.name.encode()

        def close(self) -> None:
            closed.put(self.name)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Body:
        get_session(environ)["seen"] = True
        start_response("200 OK", TEXT)
        return Body(environ["PATH_INFO"])

    client, _ = serve(app, store=MemoryStore())
    assert client.get("/a").text == "/a"
    assert client.get("/b").text == "/b"
    # The server closes a body once it is sent, possibly just after the client has it.
    assert [closed.get(timeout=5), closed.get(timeout=5)] == ["/a", "/b"]


# -- configuration ----------------------------------------------------------------------


def plain_app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", TEXT)
    return [b""]


def test_an_async_store_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"^store: AsyncMemoryStore is asynchronous"):
        SessionMiddleware(plain_app, make_settings(), store=AsyncMemoryStore())


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("timeout_location", "/a\r\nX-Injected: 1"),
        ("timeout_location", ""),
        ("sweep_interval", 0),
        ("sweep_interval", -1.0),
        ("sweep_interval", float("nan")),
        ("sweep_interval", True),
        ("environ_key", ""),
        ("clock", 5),
        ("on_timeout", "/login"),
        ("on_store_error", 503),
        ("store", object()),
    ],
)
def test_bad_options_are_refused_by_name(option: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=rf"^{option}: "):
        SessionMiddleware(plain_app, make_settings(), **{option: value})


def test_settings_must_be_settings() -> None:
    with pytest.raises(ConfigurationError, match=r"^settings: "):
        SessionMiddleware(plain_app, None)  # type: ignore[arg-type]


def test_the_app_must_be_callable() -> None:
    with pytest.raises(ConfigurationError, match=r"^app: must be callable, got str"):
        SessionMiddleware("not an app", make_settings())  # type: ignore[arg-type]


def test_without_the_middleware_the_helpers_say_so() -> None:
    with pytest.raises(ConfigurationError, match="SessionMiddleware"):
        get_session({})


def _cookies_seen_for(http_cookie: str) -> dict[str, str]:
    import io

    from satchel import Keyring, Settings
    from satchel_wsgi import SessionMiddleware, get_handle

    seen: dict[str, str] = {}

    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        seen.update(get_handle(environ).request_cookies)
        start_response("200 OK", [("Content-Type", "text/plain")])  # type: ignore[operator]
        return [b""]

    middleware = SessionMiddleware(app, Settings(keyring=Keyring(["w" * 32])), sweep_interval=None)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "HTTP_COOKIE": http_cookie,
        "wsgi.input": io.BytesIO(),
    }
    list(middleware(environ, lambda status, headers, exc_info=None: None))
    return seen


def test_a_comma_in_a_cookie_value_is_kept() -> None:
    seen = _cookies_seen_for('d=e,f; prefs={"a":1,"b":[2,3]}; z=1')
    assert seen == {"d": "e,f", "prefs": '{"a":1,"b":[2,3]}', "z": "1"}


@pytest.mark.parametrize("joined", ["a=1; b=2,c=3", "a=1; b=2, c=3"])
def test_repeated_cookie_lines_joined_by_the_server_stay_joined(joined: str) -> None:
    # wsgiref and gunicorn join repeated lines with ",", waitress with ", ";
    # a comma may be part of a value, so the join cannot be undone. Browsers
    # send one Cookie line.
    assert _cookies_seen_for(joined) == {"a": "1", "b": joined.partition("b=")[2]}
