"""The request-scoped context on WSGI (a threaded ``wsgiref`` server), over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from wsgiref.util import setup_testing_defaults

import pytest

import satchel
from satchel import Settings
from satchel_wsgi import SessionMiddleware

from ..stores import CountingStore
from ..wsgi.helpers import serving
from . import _helpers
from ._checks import AnywhereChecks, Served

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

TEXT = [("Content-Type", "text/plain; charset=utf-8")]


def _whoami() -> str:
    time.sleep(0.02)  # the other requests run meanwhile
    return _helpers.whoami()


VIEWS: dict[str, Callable[[list[str]], str]] = {
    "login": lambda arguments: _helpers.login(arguments[0]),
    "whoami": lambda arguments: _whoami(),
    "child": lambda arguments: _helpers.whoami_in_threads(),
    "untouched": lambda arguments: _helpers.untouched(),
    "cookies": lambda arguments: _helpers.cookies(),
}


def _late(start_response: StartResponse) -> Iterator[bytes]:
    # A generator: its code runs while the server iterates the body.
    _helpers.whoami()
    start_response("200 OK", TEXT)
    yield b""  # the server sends the headers with the first chunk
    yield _helpers.late().encode()


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    first, *arguments = str(environ["PATH_INFO"]).strip("/").split("/")
    if first == "late":
        return _late(start_response)
    body = VIEWS[first](arguments).encode()
    start_response("200 OK", [*TEXT, ("Content-Length", str(len(body)))])
    return [body]


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> Any:
    return lambda data: None


def _in_a_new_thread(probe: Callable[[], str]) -> str:
    found: list[str] = []
    thread = threading.Thread(target=lambda: found.append(probe()))
    thread.start()
    thread.join(10)
    return found[0]


class TestWSGI(AnywhereChecks):
    child_sees = "ada|NoRequestContext"
    probe_finds = "NoRequestContext|NoRequestContext"

    @pytest.fixture
    def served(self, settings: Settings, counting_store: CountingStore) -> Iterator[Served]:
        middleware = SessionMiddleware(app, settings, store=counting_store, sweep_interval=None)
        with serving(middleware) as url:
            yield Served(url, counting_store.ops, lambda: _in_a_new_thread(_helpers.probe_outside))


def test_a_thread_that_served_a_request_is_left_with_none(
    settings: Settings, counting_store: CountingStore
) -> None:
    # Servers with a pool (waitress, gunicorn's threads) reuse the thread:
    # once the request is over, nothing of it may be found there.
    middleware = SessionMiddleware(app, settings, store=counting_store, sweep_interval=None)
    for path, expected in (("/untouched", b"True"), ("/late", b"ProtocolError|ProtocolError")):
        environ: dict[str, object] = {}
        setup_testing_defaults(environ)
        environ["PATH_INFO"] = path
        body = middleware(environ, _start_response)
        assert not satchel.has_request_context()  # between the call and the body
        chunks = b"".join(body)
        close = getattr(body, "close", None)
        if close is not None:
            close()
        assert not satchel.has_request_context()
        assert chunks == expected
