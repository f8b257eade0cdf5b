"""The middleware around plain ASGI applications, over real HTTP: the hooks,
the lifespan (sweep and store closing), application errors, configuration.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, RedirectResponse

import satchel_asgi
from satchel import AsyncMemoryStore, ConfigurationError, Settings
from satchel.testing import HttpClient, ManualClock

from ._apps import RecordingStore
from ._server import LiveASGI
from .conftest import IDLE_TIMEOUT, make_settings


async def plain_app(scope: Any, receive: Any, send: Any) -> None:
    """A plain ASGI app that does not speak lifespan (it raises, as many do).

    ``/put/{key}/{value}``, ``/get``, ``/big`` (a session too large for a cookie).
    """
    assert scope["type"] == "http", "no lifespan here"
    session = await satchel_asgi.load_session(scope)
    parts = scope["path"].strip("/").split("/")
    if parts[0] == "put":
        session[parts[1]] = parts[2]
    elif parts[0] == "big":
        session["big"] = "x" * 10_000
    body = json.dumps(dict(session), sort_keys=True).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _sweeping(app: satchel_asgi.SessionMiddleware) -> bool:
    # Read afresh each time (a plain attribute read would be narrowed by the type checker).
    return app.sweeping


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[LiveASGI] = []

    def start(app: Any, server: Any = "uvicorn") -> LiveASGI:
        live = LiveASGI(app, server)
        started.append(live)
        return live

    yield start
    for live in reversed(started):
        live.stop()


def test_the_timeout_hook_answers_with_the_fresh_session(serve: Any) -> None:
    clock = ManualClock(time.time())
    seen: list[str | None] = []

    async def on_timeout(scope: Any, receive: Any, send: Any) -> None:
        session = await satchel_asgi.load_session(scope)  # the fresh one
        seen.append(session.ended_reason)
        session.flash("message", "expired")
        await RedirectResponse("/signin", status_code=303)(scope, receive, send)

    app = satchel_asgi.SessionMiddleware(
        plain_app, make_settings(), store=AsyncMemoryStore(), clock=clock, on_timeout=on_timeout
    )
    live = serve(app)
    client = HttpClient(live.base_url)
    assert client.get("/put/user/ada").status == 200
    clock.advance(IDLE_TIMEOUT)
    response = client.get("/get")
    assert response.status == 303
    assert response.header("Location") == ["/signin"]
    assert response.set_cookie("session") is not None
    assert seen == ["idle"]
    # The new session carries the flash, not the old data.
    assert client.get("/get").json() == {}


def test_a_response_object_can_be_the_timeout_hook(serve: Any) -> None:
    clock = ManualClock(time.time())
    app = satchel_asgi.SessionMiddleware(
        plain_app,
        make_settings(),
        clock=clock,
        on_timeout=PlainTextResponse("Signed out", status_code=401),
    )
    live = serve(app)
    client = HttpClient(live.base_url)
    assert client.get("/put/user/ada").status == 200
    clock.advance(IDLE_TIMEOUT)
    response = client.get("/get")
    assert (response.status, response.text) == (401, "Signed out")
    expired = response.set_cookie("session")
    assert expired is not None
    assert expired[1].get("max-age") == "0"


def test_the_store_error_hook_answers_instead(serve: Any) -> None:
    store = RecordingStore()
    app = satchel_asgi.SessionMiddleware(
        plain_app,
        make_settings(),
        store=store,
        on_store_error=PlainTextResponse("Down", status_code=503, headers={"Retry-After": "30"}),
    )
    live = serve(app)
    client = HttpClient(live.base_url)
    store.break_down()
    response = client.get("/put/a/b")
    store.mend()
    assert (response.status, response.text) == (503, "Down")
    assert response.header("Retry-After") == ["30"]
    assert response.header("Set-Cookie") == []


def test_a_session_too_large_for_its_cookie_is_a_500(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    live = serve(satchel_asgi.SessionMiddleware(plain_app, make_settings()))
    response = HttpClient(live.base_url).get("/big")
    assert response.status == 500
    assert response.header("Set-Cookie") == []
    assert b"x" * 100 not in response.body
    assert any("session could not be saved" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("server", ["uvicorn", "hypercorn"])
def test_the_lifespan_runs_the_sweep_and_closes_the_store(serve: Any, server: str) -> None:
    store = RecordingStore()
    swept = threading.Event()
    inner_sweep = store.sweep

    async def sweep(now: float) -> int:
        removed = await inner_sweep(now)
        swept.set()
        return removed

    store.sweep = sweep  # type: ignore[method-assign]
    app = satchel_asgi.SessionMiddleware(
        Starlette(), make_settings(), store=store, sweep_interval=0.01
    )
    live = serve(app, server)
    assert swept.wait(30), "the sweep never ran"
    assert _sweeping(app)
    assert not store.closed
    live.stop()
    assert not _sweeping(app)
    assert store.closed


def test_an_app_without_lifespan_still_gets_the_sweep(serve: Any) -> None:
    store = RecordingStore()
    app = satchel_asgi.SessionMiddleware(plain_app, make_settings(), store=store)
    live = serve(app)
    assert _sweeping(app)  # the middleware answered the lifespan for the app
    assert HttpClient(live.base_url).get("/put/a/b").json() == {"a": "b"}
    live.stop()
    assert not _sweeping(app)
    assert store.closed


def test_close_store_false_leaves_the_store_open(serve: Any) -> None:
    store = RecordingStore()
    app = satchel_asgi.SessionMiddleware(
        plain_app, make_settings(), store=store, close_store=False, sweep_interval=None
    )
    live = serve(app)
    assert not _sweeping(app)
    live.stop()
    assert not store.closed


def test_a_synchronous_store_is_run_on_threads(settings: Settings) -> None:
    from satchel import MemoryStore, ThreadedStore

    app = satchel_asgi.SessionMiddleware(plain_app, settings, store=MemoryStore())
    assert isinstance(app.store, ThreadedStore)


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"app": None}, "app"),
        ({"close_store": "yes"}, "close_store"),
        ({"store": object()}, "store"),
        ({"on_timeout": "/login"}, "on_timeout"),
        ({"timeout_location": ""}, "timeout_location"),
    ],
)
def test_bad_arguments_are_named(settings: Settings, arguments: dict[str, Any], named: str) -> None:
    options: dict[str, Any] = {"app": plain_app, **arguments}
    app = options.pop("app")
    with pytest.raises(ConfigurationError, match=named):
        satchel_asgi.SessionMiddleware(app, settings, **options)


def test_outside_the_middleware_the_accessors_say_so() -> None:
    scope: dict[str, Any] = {"type": "http"}
    with pytest.raises(RuntimeError, match="SessionMiddleware"):
        satchel_asgi.get_session(scope)
    with pytest.raises(TypeError, match="ASGI scope"):
        satchel_asgi.request_cookies(42)
