"""The demo on aiohttp: the shared routes bound to an `aiohttp.web.Application`."""

from __future__ import annotations

import contextlib

from aiohttp import web

import satchel_aiohttp
from satchel import CookieError
from satchel.testing import routes as _routes
from satchel.testing.routes import Reply

from ._config import DemoConfig, aclose_store

__all__ = ["build_app", "serve"]

_CONFIG = web.AppKey("config", DemoConfig)


def _respond(reply: Reply) -> web.Response:
    return web.Response(
        body=reply.body.encode("utf-8"),
        status=reply.status,
        headers={"Content-Type": reply.content_type},
    )


async def index(request: web.Request) -> web.Response:
    """``GET /``: a small page with the user and any flash message."""
    return _respond(_routes.index(await satchel_aiohttp.get_session(request)))


async def login(request: web.Request) -> web.Response:
    """``GET /login/{id}``: set the user, with a new session ID."""
    session = await satchel_aiohttp.get_session(request)
    return _respond(_routes.login(session, request.match_info["id"]))


async def whoami(request: web.Request) -> web.Response:
    """``GET /whoami``: the current user, or an empty body, read by a helper
    that is passed no request (``satchel.load_current_session()``).
    """
    return _respond(await _routes.load_whoami_anywhere())


async def remove(request: web.Request) -> web.Response:
    """``GET /remove``: remove the user, keep the rest of the session."""
    return _respond(_routes.remove(await satchel_aiohttp.get_session(request)))


async def set_if_nil(request: web.Request) -> web.Response:
    """``GET /set-if-nil/{id}``: set the user only if none is set."""
    session = await satchel_aiohttp.get_session(request)
    return _respond(_routes.set_if_nil(session, request.match_info["id"]))


async def logout(request: web.Request) -> web.Response:
    """``GET /logout``: end the session."""
    return _respond(_routes.logout(await satchel_aiohttp.get_session(request)))


async def sessions(request: web.Request) -> web.Response:
    """``GET /sessions``: the logged-in user's sessions, listed through the
    request's context (``satchel.load_owner_sessions()``).
    """
    return _respond(await _routes.load_sessions())


async def logout_everywhere(request: web.Request) -> web.Response:
    """``GET /logout-everywhere``: end the logged-in user's other sessions."""
    return _respond(_routes.logout_everywhere(await satchel_aiohttp.get_session(request)))


async def put(request: web.Request) -> web.Response:
    """``GET /put/{key}/{value}``: set one session key."""
    session = await satchel_aiohttp.get_session(request)
    return _respond(_routes.put(session, request.match_info["key"], request.match_info["value"]))


async def get(request: web.Request) -> web.Response:
    """``GET /get``: the session as JSON."""
    return _respond(_routes.get(await satchel_aiohttp.get_session(request)))


async def counter(request: web.Request) -> web.Response:
    """``GET /counter``: increment the session's counter."""
    return _respond(_routes.counter(await satchel_aiohttp.get_session(request)))


async def flash(request: web.Request) -> web.Response:
    """``GET /flash/{message}``: flash a message for the next request."""
    session = await satchel_aiohttp.get_session(request)
    return _respond(_routes.flash(session, request.match_info["message"]))


async def show_flash(request: web.Request) -> web.Response:
    """``GET /show-flash``: the flashed message, once."""
    return _respond(_routes.show_flash(await satchel_aiohttp.get_session(request)))


async def set_plain_cookie(request: web.Request) -> web.Response:
    """``GET /cookie/{name}/{value}``: set a plain cookie; the session stays closed."""
    name, value = request.match_info["name"], request.match_info["value"]
    try:
        satchel_aiohttp.set_cookie(
            request,
            name,
            value,
            path="/",
            http_only=True,
            max_age=3600,
            secure=request.app[_CONFIG].settings.secure,
        )
    except CookieError as error:
        # A name or value that could inject an attribute is refused, not sent.
        raise web.HTTPBadRequest(text=f"Refused: {error}") from None
    return _respond(Reply(f"Cookie {name} set"))


async def cookies(request: web.Request) -> web.Response:
    """``GET /cookies``: the request's cookies as JSON (the session stays closed)."""
    return _respond(_routes.list_cookies(satchel_aiohttp.request_cookies(request)))


async def stream(request: web.Request) -> web.StreamResponse:
    """``GET /stream``: a streamed body; the session change rides on its headers."""
    chunks = _routes.start_stream(await satchel_aiohttp.get_session(request))
    response = web.StreamResponse(headers={"Content-Type": _routes.TEXT})
    await response.prepare(request)  # the session is finished here, before the headers go
    for chunk in chunks:
        await response.write(chunk.encode("utf-8"))
    await response.write_eof()
    return response


async def raise_redirect(request: web.Request) -> web.Response:
    """``GET /raise-redirect/{id}``: set the user, then raise a redirect to ``/whoami``."""
    session = await satchel_aiohttp.get_session(request)
    raise web.HTTPFound(_routes.raise_redirect(session, request.match_info["id"]))


async def websocket(request: web.Request) -> web.WebSocketResponse:
    """``GET /ws``: a websocket whose handshake reads and changes the session;
    sends the user, then waits for the client to close.
    """
    user = _routes.websocket_handshake(await satchel_aiohttp.get_session(request))
    ws = web.WebSocketResponse()
    await ws.prepare(request)  # the session is finished here: its cookie rides on the 101
    with contextlib.suppress(ConnectionError):
        await ws.send_str(user)
    async for _ in ws:
        pass
    return ws


def build_app(config: DemoConfig) -> web.Application:
    """The demo application for `config`, with the session adapter set up."""
    app = web.Application()
    app[_CONFIG] = config
    satchel_aiohttp.setup(
        app,
        config.settings,
        store=config.store,
        clock=config.clock,
        timeout_location=config.timeout_location,
        sweep_interval=config.sweep_interval,
    )
    app.add_routes(
        [
            web.get("/", index),
            web.get("/login/{id}", login),
            web.get("/whoami", whoami),
            web.get("/remove", remove),
            web.get("/set-if-nil/{id}", set_if_nil),
            web.get("/logout", logout),
            web.get("/sessions", sessions),
            web.get("/logout-everywhere", logout_everywhere),
            web.get("/put/{key}/{value}", put),
            web.get("/get", get),
            web.get("/counter", counter),
            web.get("/flash/{message}", flash),
            web.get("/show-flash", show_flash),
            web.get("/cookie/{name}/{value}", set_plain_cookie),
            web.get("/cookies", cookies),
            web.get("/stream", stream),
            web.get("/raise-redirect/{id}", raise_redirect),
            web.get("/ws", websocket),
        ]
    )
    return app


async def _close_store(app: web.Application) -> None:
    await aclose_store(app[_CONFIG].store)


def serve(config: DemoConfig) -> None:
    """Serve the demo on ``config.host:config.port`` until Ctrl-C."""
    app = build_app(config)
    # serve() made the app for this process, so its store closes with it.
    app.on_cleanup.append(_close_store)
    web.run_app(app, host=config.host, port=config.port, shutdown_timeout=5.0)
