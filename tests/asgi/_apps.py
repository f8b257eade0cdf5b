"""The same small application on Starlette, FastAPI and Litestar, plus a
recording store, for the adapter's own tests.

Every app answers:

- ``/put/{key}/{value}``: set one key; ``/get``: the session as JSON;
- ``/lazy``: never asks for the session (reads a plain cookie instead);
- ``/http-error``: sets ``refused``, then raises the framework's 403 exception;
- ``/crash``: sets ``crashed``, then raises an unhandled ``RuntimeError``;
- ``/ws``: a websocket that loads the session (adds ``ws``), accepts, and
  sends the user.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import fastapi
import litestar
from fastapi.responses import PlainTextResponse as FastAPIText
from litestar.di import NamedDependency, Provide
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromPath
from litestar.types import Scope as LitestarScope
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

import satchel_asgi
from satchel import AsyncMemoryStore, Op, Result, Session
from satchel.testing import AsyncSwitchableStore

# Framework signatures are read from the module's namespace: these live here.
SessionDep = Annotated[Session, fastapi.Depends(satchel_asgi.session_dependency)]
LitestarRequest = litestar.Request[Any, Any, Any]
LitestarWebSocket = litestar.WebSocket[Any, Any, Any]


class RecordingStore:
    """An async memory store that records its ops, sweeps and closing, and
    can be broken and mended.
    """

    def __init__(self) -> None:
        self.inner = AsyncSwitchableStore(AsyncMemoryStore())
        self.ops: list[str] = []
        self.sweeps = 0
        self.closed = False

    async def execute(self, op: Op) -> Result:
        self.ops.append(type(op).__name__)
        return await self.inner.execute(op)

    async def sweep(self, now: float) -> int:
        self.sweeps += 1
        sweep = self.inner.sweep
        assert sweep is not None
        removed = await sweep(now)
        assert isinstance(removed, int)
        return removed

    async def aclose(self) -> None:
        self.closed = True

    def break_down(self) -> None:
        self.inner.break_down()

    def mend(self) -> None:
        self.inner.mend()


def _dump(session: Session) -> str:
    return json.dumps(dict(session), sort_keys=True)


def starlette_app() -> Any:
    """The app on Starlette: `load_session`, ``request.state`` and `get_session`."""

    async def put(request: Request) -> Response:
        await satchel_asgi.load_session(request)
        session: Session = request.state.session  # set by load_session
        session[request.path_params["key"]] = request.path_params["value"]
        return PlainTextResponse("ok")

    async def get(request: Request) -> Response:
        await satchel_asgi.load_session(request)
        # The sync accessor, for code that runs after loading.
        return PlainTextResponse(_dump(satchel_asgi.get_session(request.scope)))

    async def lazy(request: Request) -> Response:
        return PlainTextResponse(satchel_asgi.request_cookies(request).get("theme", ""))

    async def http_error(request: Request) -> Response:
        (await satchel_asgi.load_session(request))["refused"] = True
        raise HTTPException(403, "Forbidden")

    async def crash(request: Request) -> Response:
        (await satchel_asgi.load_session(request))["crashed"] = True
        raise RuntimeError("boom")

    async def ws(socket: WebSocket) -> None:
        session = await satchel_asgi.load_session(socket)
        session["ws"] = True
        user = str(session.get("user", ""))
        await socket.accept()  # the session is finished here: read it before
        await socket.send_text(user)
        await socket.close()

    return Starlette(
        routes=[
            Route("/put/{key}/{value}", put),
            Route("/get", get),
            Route("/lazy", lazy),
            Route("/http-error", http_error),
            Route("/crash", crash),
            WebSocketRoute("/ws", ws),
        ]
    )


def fastapi_app() -> Any:
    """The app on FastAPI: ``Depends(session_dependency)``."""
    api = fastapi.FastAPI()

    @api.get("/put/{key}/{value}", response_class=FastAPIText)
    async def put(key: str, value: str, session: SessionDep) -> str:
        session[key] = value
        return "ok"

    @api.get("/get", response_class=FastAPIText)
    async def get(session: SessionDep) -> str:
        return _dump(session)

    @api.get("/lazy", response_class=FastAPIText)
    async def lazy(request: fastapi.Request) -> str:
        return satchel_asgi.request_cookies(request).get("theme", "")

    @api.get("/http-error")
    async def http_error(session: SessionDep) -> None:
        session["refused"] = True
        raise fastapi.HTTPException(403, "Forbidden")

    @api.get("/crash")
    async def crash(session: SessionDep) -> None:
        session["crashed"] = True
        raise RuntimeError("boom")

    @api.websocket("/ws")
    async def ws(socket: fastapi.WebSocket, session: SessionDep) -> None:
        session["ws"] = True
        user = str(session.get("user", ""))
        await socket.accept()  # the session is finished here: read it before
        await socket.send_text(user)
        await socket.close()

    return api


async def provide_session(scope: LitestarScope) -> Session:
    """Litestar's dependency provider: it injects the reserved ``scope``."""
    return await satchel_asgi.load_session(scope)


def litestar_app() -> Any:
    """The app on Litestar: `provide_session` as the ``session`` dependency."""

    @litestar.get("/put/{key:str}/{value:str}")
    async def put(
        key: FromPath[str], value: FromPath[str], session: NamedDependency[Session]
    ) -> str:
        session[key] = value
        return "ok"

    @litestar.get("/get")
    async def get_all(session: NamedDependency[Session]) -> str:
        return _dump(session)

    @litestar.get("/lazy")
    async def lazy(request: LitestarRequest) -> str:
        return satchel_asgi.request_cookies(request).get("theme", "")

    @litestar.get("/http-error")
    async def http_error(session: NamedDependency[Session]) -> None:
        session["refused"] = True
        raise PermissionDeniedException("Forbidden")

    @litestar.get("/crash")
    async def crash(session: NamedDependency[Session]) -> None:
        session["crashed"] = True
        raise RuntimeError("boom")

    @litestar.websocket("/ws")
    async def ws(socket: LitestarWebSocket, session: NamedDependency[Session]) -> None:
        session["ws"] = True
        user = str(session.get("user", ""))
        await socket.accept()  # the session is finished here: read it before
        await socket.send_text(user)
        await socket.close()

    return litestar.Litestar(
        route_handlers=[put, get_all, lazy, http_error, crash, ws],
        dependencies={"session": Provide(provide_session)},
    )


APPS = {"starlette": starlette_app, "fastapi": fastapi_app, "litestar": litestar_app}
