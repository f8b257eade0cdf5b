"""The demo on ASGI: the shared routes bound to a Starlette application,
wrapped in `satchel_asgi.SessionMiddleware` and served by uvicorn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

import satchel_asgi
from satchel import CookieError, Session
from satchel.testing import routes as _routes
from satchel.testing.routes import Reply

from ._config import DemoConfig

__all__ = ["build_app", "serve"]


def _respond(reply: Reply) -> Response:
    return Response(
        reply.body.encode("utf-8"),
        status_code=reply.status,
        headers={"Content-Type": reply.content_type},
    )


def _session_route(route: Callable[..., Reply], *names: str) -> Callable[[Request], object]:
    """A Starlette endpoint that loads the session and runs `route` with the path parameters."""

    async def endpoint(request: Request) -> Response:
        # A timeout or a store failure raises here; the middleware answers for it.
        session: Session = await satchel_asgi.load_session(request)
        return _respond(route(session, *(request.path_params[name] for name in names)))

    return endpoint


async def whoami(request: Request) -> Response:
    """``GET /whoami``: the user, read by a helper that is passed no request."""
    return _respond(await _routes.load_whoami_anywhere())


async def sessions(request: Request) -> Response:
    """``GET /sessions``: the logged-in user's sessions, listed through the
    request's context (``satchel.load_owner_sessions()``).
    """
    return _respond(await _routes.load_sessions())


async def set_plain_cookie(request: Request) -> Response:
    """``GET /cookie/{name}/{value}``: set a plain cookie; the session stays closed."""
    name, value = request.path_params["name"], request.path_params["value"]
    try:
        satchel_asgi.set_cookie(
            request,
            name,
            value,
            path="/",
            http_only=True,
            max_age=3600,
            secure=request.app.state.secure,
        )
    except CookieError as error:
        # A name or value that could inject an attribute is refused, not sent.
        raise HTTPException(400, f"Refused: {error}") from None
    return _respond(_routes.set_plain_cookie(name))


async def cookies(request: Request) -> Response:
    """``GET /cookies``: the request's cookies as JSON (the session stays closed)."""
    return _respond(_routes.list_cookies(satchel_asgi.request_cookies(request)))


async def stream(request: Request) -> Response:
    """``GET /stream``: a streamed body; the session change rides on its headers."""
    chunks = _routes.start_stream(await satchel_asgi.load_session(request))

    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk.encode("utf-8")

    # The session is finished when this response starts, before the first chunk.
    return StreamingResponse(body(), media_type=_routes.TEXT)


async def raise_redirect(request: Request) -> Response:
    """``GET /raise-redirect/{id}``: set the user, then raise a redirect to ``/whoami``."""
    session = await satchel_asgi.load_session(request)
    location = _routes.raise_redirect(session, request.path_params["id"])
    # Starlette's exception middleware turns this into the 302: the change is kept.
    raise HTTPException(302, headers={"Location": location})


async def websocket(socket: WebSocket) -> None:
    """``/ws``: a websocket whose handshake reads and changes the session;
    sends the user, then waits for the client to close.
    """
    user = _routes.websocket_handshake(await satchel_asgi.load_session(socket))
    await socket.accept()  # the session is finished here: its cookie rides on the 101
    try:
        await socket.send_text(user)
        while True:
            await socket.receive_text()
    except WebSocketDisconnect:
        pass


def build_app(config: DemoConfig) -> satchel_asgi.SessionMiddleware:
    """The demo Starlette application for `config`, wrapped in the session middleware."""
    app = Starlette(
        routes=[
            Route("/", _session_route(_routes.index)),
            Route("/login/{id}", _session_route(_routes.login, "id")),
            Route("/whoami", whoami),
            Route("/remove", _session_route(_routes.remove)),
            Route("/set-if-nil/{id}", _session_route(_routes.set_if_nil, "id")),
            Route("/logout", _session_route(_routes.logout)),
            Route("/sessions", sessions),
            Route("/logout-everywhere", _session_route(_routes.logout_everywhere)),
            Route("/put/{key}/{value}", _session_route(_routes.put, "key", "value")),
            Route("/get", _session_route(_routes.get)),
            Route("/counter", _session_route(_routes.counter)),
            Route("/flash/{message}", _session_route(_routes.flash, "message")),
            Route("/show-flash", _session_route(_routes.show_flash)),
            Route("/cookie/{name}/{value}", set_plain_cookie),
            Route("/cookies", cookies),
            Route("/stream", stream),
            Route("/raise-redirect/{id}", raise_redirect),
            WebSocketRoute("/ws", websocket),
        ]
    )
    app.state.secure = config.settings.secure
    return satchel_asgi.SessionMiddleware(
        app,
        config.settings,
        store=config.store,
        clock=config.clock,
        timeout_location=config.timeout_location,
        sweep_interval=config.sweep_interval,
        # The demo made its store for this process: the lifespan's shut-down closes it.
        close_store=True,
    )


def serve(config: DemoConfig) -> None:
    """Serve the demo on ``config.host:config.port`` with uvicorn until Ctrl-C."""
    import uvicorn

    uvicorn.run(
        build_app(config),
        host=config.host,
        port=config.port,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
