"""The demo app on Tornado, with satchel_tornado."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket

from satchel import CookieError
from satchel.testing import routes as _routes
from satchel.testing.routes import Reply
from satchel_tornado import SessionConfig, SessionMixin, start_sweeper

from ._config import DemoConfig, aclose_store

__all__ = ["build_app", "run", "serve"]


class _Demo(SessionMixin, tornado.web.RequestHandler):
    """The demo routes' common base: turns a `Reply` into the response."""

    def reply(self, reply: Reply) -> None:
        self.set_status(reply.status)
        self.set_header("Content-Type", reply.content_type)
        self.finish(reply.body)


class Index(_Demo):
    """``GET /``: the user and any flash message."""

    async def get(self) -> None:
        self.reply(_routes.index(await self.get_session()))


class Login(_Demo):
    """``GET /login/{id}``."""

    async def get(self, user_id: str) -> None:
        self.reply(_routes.login(await self.get_session(), user_id))


class WhoAmI(_Demo):
    """``GET /whoami``: the user, read by a helper that is passed no request."""

    async def get(self) -> None:
        self.reply(await _routes.load_whoami_anywhere())


class Remove(_Demo):
    """``GET /remove``."""

    async def get(self) -> None:
        self.reply(_routes.remove(await self.get_session()))


class SetIfNil(_Demo):
    """``GET /set-if-nil/{id}``."""

    async def get(self, user_id: str) -> None:
        self.reply(_routes.set_if_nil(await self.get_session(), user_id))


class Logout(_Demo):
    """``GET /logout``."""

    async def get(self) -> None:
        self.reply(_routes.logout(await self.get_session()))


class Sessions(_Demo):
    """``GET /sessions``: the logged-in user's sessions, listed through the
    request's context (``satchel.load_owner_sessions()``).
    """

    async def get(self) -> None:
        self.reply(await _routes.load_sessions())


class LogoutEverywhere(_Demo):
    """``GET /logout-everywhere``."""

    async def get(self) -> None:
        self.reply(_routes.logout_everywhere(await self.get_session()))


class Put(_Demo):
    """``GET /put/{key}/{value}``."""

    async def get(self, key: str, value: str) -> None:
        self.reply(_routes.put(await self.get_session(), key, value))


class Get(_Demo):
    """``GET /get``."""

    async def get(self) -> None:
        self.reply(_routes.get(await self.get_session()))


class Counter(_Demo):
    """``GET /counter``."""

    async def get(self) -> None:
        self.reply(_routes.counter(await self.get_session()))


class Flash(_Demo):
    """``GET /flash/{message}``."""

    async def get(self, message: str) -> None:
        self.reply(_routes.flash(await self.get_session(), message))


class ShowFlash(_Demo):
    """``GET /show-flash``."""

    async def get(self) -> None:
        self.reply(_routes.show_flash(await self.get_session()))


class SetCookie(_Demo):
    """``GET /cookie/{name}/{value}``: a plain cookie, without the session."""

    def get(self, name: str, value: str) -> None:
        try:
            self.set_response_cookie(
                name,
                value,
                path="/",
                http_only=True,
                max_age=3600,
                secure=self.session_config.settings.secure,
            )
        except CookieError as error:
            raise tornado.web.HTTPError(400, reason="Bad cookie") from error
        self.reply(Reply(f"Cookie {name} set"))


class Cookies(_Demo):
    """``GET /cookies``: the request's cookies; never opens the session."""

    def get(self) -> None:
        self.reply(_routes.list_cookies(self.request_cookies))


class Stream(_Demo):
    """``GET /stream``: several flushed chunks; the session is saved first."""

    async def get(self) -> None:
        chunks = _routes.start_stream(await self.get_session())
        self.set_header("Content-Type", _routes.TEXT)
        for chunk in chunks:
            self.write(chunk)
            await self.flush()


class RaiseRedirect(_Demo):
    """``GET /raise-redirect/{id}``: set the user, then end with a redirect raised
    as `tornado.web.Finish`.
    """

    async def get(self, user_id: str) -> None:
        location = _routes.raise_redirect(await self.get_session(), user_id)
        self.set_status(302)
        self.set_header("Location", location)
        raise tornado.web.Finish()


class WebSocket(SessionMixin, tornado.websocket.WebSocketHandler):
    """``GET /ws``: the handshake reads and changes the session, saved before the 101."""

    user = ""

    async def prepare(self) -> None:
        self.user = _routes.websocket_handshake(await self.get_session())
        await self.finish_session()  # its Set-Cookie goes out with the handshake

    def open(self, *args: str, **kwargs: str) -> None:
        with contextlib.suppress(tornado.websocket.WebSocketClosedError):
            self.write_message(self.user)

    def on_message(self, message: str | bytes) -> None:
        pass


def build_app(config: DemoConfig) -> tornado.web.Application:
    """The demo routes as a Tornado Application configured from `config`."""
    session_config = SessionConfig(
        config.settings,
        store=config.store,
        clock=config.clock,
        timeout_location=config.timeout_location,
        sweep_interval=config.sweep_interval,
    )
    segment = r"([^/]+)"
    return tornado.web.Application(
        [
            (r"/", Index),
            (rf"/login/{segment}", Login),
            (r"/whoami", WhoAmI),
            (r"/remove", Remove),
            (rf"/set-if-nil/{segment}", SetIfNil),
            (r"/logout", Logout),
            (r"/sessions", Sessions),
            (r"/logout-everywhere", LogoutEverywhere),
            (rf"/put/{segment}/{segment}", Put),
            (r"/get", Get),
            (r"/counter", Counter),
            (rf"/flash/{segment}", Flash),
            (r"/show-flash", ShowFlash),
            (rf"/cookie/{segment}/{segment}", SetCookie),
            (r"/cookies", Cookies),
            (r"/stream", Stream),
            (rf"/raise-redirect/{segment}", RaiseRedirect),
            (r"/ws", WebSocket),
        ],
        satchel=session_config,
    )


async def run(
    config: DemoConfig,
    stop: asyncio.Event,
    *,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Serve the demo until `stop` is set, then shut down cleanly.

    `ready` is called with the bound port once the server listens (useful
    with ``port=0``). The sweeper is stopped and the store closed on the way out.
    """
    app = build_app(config)
    sockets = tornado.netutil.bind_sockets(config.port, config.host)
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    sweeper = start_sweeper(app)
    try:
        if ready is not None:
            ready(sockets[0].getsockname()[1])
        await stop.wait()
    finally:
        server.stop()
        await sweeper.close()
        await server.close_all_connections()
        await aclose_store(config.store)


def serve(config: DemoConfig) -> None:
    """Serve the demo on ``config.host:config.port`` until Ctrl-C."""

    async def main() -> None:
        await run(config, asyncio.Event())

    # Ctrl-C cancels main(), whose clean-up runs; then asyncio.run re-raises it.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
