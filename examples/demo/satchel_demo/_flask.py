"""The demo on Flask: the demo routes as Flask views, ``flask.session`` a satchel
session through `satchel_flask.Satchel`, served by the demo's threaded
``wsgiref`` server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from flask import Flask, Response, abort, redirect, stream_with_context

import satchel_flask
from satchel import CookieError
from satchel.testing import routes as _routes
from satchel.testing.routes import Reply
from satchel_flask import Satchel

from ._config import DemoConfig, close_store
from ._wsgi import make_server

__all__ = ["build_app", "serve"]

# The routes that take the session, by URL rule.
_SESSION_ROUTES: dict[str, Callable[..., Reply]] = {
    "/": _routes.index,
    "/login/<user_id>": _routes.login,
    "/remove": _routes.remove,
    "/set-if-nil/<user_id>": _routes.set_if_nil,
    "/logout": _routes.logout,
    "/put/<key>/<value>": _routes.put,
    "/get": _routes.get,
    "/counter": _routes.counter,
    "/flash/<message>": _routes.flash,
    "/show-flash": _routes.show_flash,
    "/logout-everywhere": _routes.logout_everywhere,
}


def _respond(reply: Reply) -> Response:
    return Response(reply.body, status=reply.status, content_type=reply.content_type)


def _session_view(route: Callable[..., Reply]) -> Callable[..., Response]:
    def view(**arguments: str) -> Response:
        # A timeout or a store failure raises here; Flask answers for it.
        return _respond(route(satchel_flask.get_session(), *arguments.values()))

    return view


def build_app(config: DemoConfig) -> Flask:
    """The demo routes as a Flask application with `Satchel` installed
    (``app.extensions["satchel"]``), configured by `config`.
    """
    app = Flask("satchel_demo")
    secure = config.settings.secure
    for rule, route in _SESSION_ROUTES.items():
        app.add_url_rule(rule, route.__name__, _session_view(route))

    @app.get("/whoami")
    def whoami() -> Response:
        # The user, read by a helper that is passed no request.
        return _respond(_routes.whoami_anywhere())

    @app.get("/sessions")
    def sessions() -> Response:
        # The logged-in user's sessions, listed through the request's context.
        return _respond(_routes.sessions())

    @app.get("/cookies")
    def cookies() -> Response:
        # Reads the Cookie header without opening the session.
        return _respond(_routes.list_cookies(satchel_flask.request_cookies()))

    @app.get("/cookie/<name>/<value>")
    def cookie(name: str, value: str) -> Response:
        try:
            satchel_flask.set_cookie(
                name, value, path="/", http_only=True, max_age=3600, secure=secure
            )
        except CookieError as error:
            return _respond(Reply(f"Bad cookie: {error}", status=400))
        return _respond(_routes.set_plain_cookie(name))

    @app.get("/stream")
    def stream() -> Response:
        # The session is saved before the body streams: change it here, not in the generator.
        chunks = _routes.start_stream(satchel_flask.get_session())

        def generate() -> Iterator[str]:
            yield from chunks

        return Response(stream_with_context(generate()), content_type=_routes.TEXT)

    @app.get("/raise-redirect/<user_id>")
    def raise_redirect(user_id: str) -> Response:
        # Flask's redirect raised as an exception: the session is still saved.
        abort(redirect(_routes.raise_redirect(satchel_flask.get_session(), user_id)))

    Satchel(
        app,
        settings=config.settings,
        store=config.store,
        clock=config.clock,
        timeout_location=config.timeout_location,
        sweep_interval=config.sweep_interval,
    )
    return app


def serve(config: DemoConfig) -> None:
    """Serve the demo until interrupted (Ctrl-C), then stop the sweep and close the store."""
    app = build_app(config)
    extension: Satchel = app.extensions["satchel"]
    with make_server(config, app) as server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            extension.close()
            close_store(config.store)
