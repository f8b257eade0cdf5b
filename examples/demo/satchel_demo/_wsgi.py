"""The demo on WSGI: a plain WSGI application behind `SessionMiddleware`,
served by the standard library's threaded ``wsgiref`` server.
"""

from __future__ import annotations

import http
import socketserver
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
from wsgiref.simple_server import make_server as _make_server

from satchel import CookieError, Session
from satchel.testing import routes as _routes
from satchel.testing.routes import Reply
from satchel_wsgi import SessionMiddleware, get_handle, get_session

from ._config import DemoConfig, close_store

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["DemoApp", "ThreadingWSGIServer", "build_app", "make_server", "serve"]

# Routes that take the session and their path segments, by first segment and arity.
_SESSION_ROUTES: dict[tuple[str, int], Callable[..., Reply]] = {
    ("", 0): _routes.index,
    ("login", 1): _routes.login,
    ("remove", 0): _routes.remove,
    ("set-if-nil", 1): _routes.set_if_nil,
    ("logout", 0): _routes.logout,
    ("put", 2): _routes.put,
    ("get", 0): _routes.get,
    ("counter", 0): _routes.counter,
    ("flash", 1): _routes.flash,
    ("show-flash", 0): _routes.show_flash,
    ("logout-everywhere", 0): _routes.logout_everywhere,
}


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """``wsgiref``'s server, one thread per request (so concurrent requests overlap)."""

    daemon_threads = True
    # socketserver's default backlog of 5 drops connections when a browser
    # opens dozens at once; this is what the kernel caps it at by default.
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _respond(start_response: StartResponse, reply: Reply) -> list[bytes]:
    body = reply.body.encode("utf-8")
    status = http.HTTPStatus(reply.status)
    start_response(
        f"{status.value} {status.phrase}",
        [("Content-Type", reply.content_type), ("Content-Length", str(len(body)))],
    )
    return [body]


def _segments(environ: WSGIEnvironment) -> list[str]:
    # PEP 3333 hands PATH_INFO over as latin-1-decoded bytes; the URL was UTF-8.
    raw = str(environ.get("PATH_INFO", "/")).encode("latin-1").decode("utf-8", "replace")
    parts = raw.strip("/").split("/")
    return [] if parts == [""] else parts


def _stream(chunks: list[str]) -> Iterator[bytes]:
    # One chunk per iteration: the server writes and flushes each separately.
    for chunk in chunks:
        yield chunk.encode("utf-8")


class DemoApp:
    """The demo routes as a plain WSGI application (wrap it in `SessionMiddleware`).

    Args:
        secure: the Secure attribute of the plain cookies ``/cookie/...`` sets.

    """

    def __init__(self, *, secure: bool) -> None:
        self.secure = secure

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request."""
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _respond(start_response, Reply("Method not allowed", status=405))
        segments = _segments(environ)
        first, arguments = (segments[0], segments[1:]) if segments else ("", [])
        if first == "cookies" and not arguments:
            # Reads the Cookie header without opening the session.
            cookies = get_handle(environ).request_cookies
            return _respond(start_response, _routes.list_cookies(cookies))
        if first == "cookie" and len(arguments) == 2:
            name, value = arguments
            try:
                get_handle(environ).set_cookie(
                    name, value, path="/", http_only=True, max_age=3600, secure=self.secure
                )
            except CookieError as error:
                return _respond(start_response, Reply(f"Bad cookie: {error}", status=400))
            return _respond(start_response, Reply(f"Cookie {name} set"))
        if first == "whoami" and not arguments:
            # The user, read by a helper that is passed no request.
            return _respond(start_response, _routes.whoami_anywhere())
        if first == "sessions" and not arguments:
            # The logged-in user's sessions, listed through the request's context.
            return _respond(start_response, _routes.sessions())
        if first == "stream" and not arguments:
            chunks = _routes.start_stream(get_session(environ))
            start_response("200 OK", [("Content-Type", _routes.TEXT)])
            return _stream(chunks)
        if first == "raise-redirect" and len(arguments) == 1:
            # WSGI has no exceptions for responses: a plain redirect, started
            # (and so the session saved) after the change.
            location = _routes.raise_redirect(get_session(environ), arguments[0])
            body = f"Redirecting to {location}".encode()
            start_response(
                "302 Found",
                [
                    ("Location", location),
                    ("Content-Type", _routes.TEXT),
                    ("Content-Length", str(len(body))),
                ],
            )
            return [body]
        route = _SESSION_ROUTES.get((first, len(arguments)))
        if route is None:
            return _respond(start_response, Reply("Not found", status=404))
        # A timeout or a store failure raises here; the middleware answers for it.
        session: Session = get_session(environ)
        return _respond(start_response, route(session, *arguments))


def build_app(config: DemoConfig) -> SessionMiddleware:
    """The demo application wrapped in `SessionMiddleware`, configured by `config`."""
    return SessionMiddleware(
        DemoApp(secure=config.settings.secure),
        config.settings,
        store=config.store,
        clock=config.clock,
        timeout_location=config.timeout_location,
        sweep_interval=config.sweep_interval,
    )


def make_server(
    config: DemoConfig, app: WSGIApplication | None = None, *, quiet: bool = False
) -> WSGIServer:
    """A threaded ``wsgiref`` server on ``config.host:config.port`` serving
    `app` (by default ``build_app(config)``). Port 0 picks a free port; read it
    from ``server.server_port``. `quiet` turns off the per-request log lines.
    """
    handler = _QuietHandler if quiet else WSGIRequestHandler
    return _make_server(
        config.host,
        config.port,
        app if app is not None else build_app(config),
        server_class=ThreadingWSGIServer,
        handler_class=handler,
    )


def serve(config: DemoConfig) -> None:
    """Serve the demo until interrupted (Ctrl-C), then stop the sweep and close the store."""
    app = build_app(config)
    with make_server(config, app) as server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            app.close()
            close_store(config.store)
