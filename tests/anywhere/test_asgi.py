"""The request-scoped context on ASGI (Starlette on uvicorn), over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, MutableMapping
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

import satchel
import satchel_asgi
from satchel import Settings

from ..asgi._server import LiveASGI
from ..stores import CountingStore
from . import _helpers
from ._checks import AnywhereChecks, Served


async def login(request: Request) -> Response:
    return PlainTextResponse(await _helpers.alogin(request.path_params["user"]))


async def whoami(request: Request) -> Response:
    await asyncio.sleep(0.02)  # the other requests run meanwhile
    return PlainTextResponse(await _helpers.awhoami())


async def child(request: Request) -> Response:
    return PlainTextResponse(await _helpers.awhoami_in_a_task())


async def untouched(request: Request) -> Response:
    return PlainTextResponse(_helpers.untouched())


async def late(request: Request) -> Response:
    await _helpers.awhoami()

    async def body() -> AsyncIterator[bytes]:
        # The body is sent after the response started: the headers have left.
        yield _helpers.late().encode()

    return StreamingResponse(body(), media_type="text/plain")


async def cookies(request: Request) -> Response:
    return PlainTextResponse(_helpers.cookies())


class TestASGI(AnywhereChecks):
    child_sees = "ada"
    probe_finds = "NoRequestContext|NoRequestContext|NoRequestContext"

    @pytest.fixture
    def served(self, settings: Settings, counting_store: CountingStore) -> Iterator[Served]:
        probes: list[str] = []

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            # The lifespan runs on the server's loop, in no request.
            probes.append(await _helpers.aprobe_outside())
            yield

        app = Starlette(
            routes=[
                Route("/login/{user}", login),
                Route("/whoami", whoami),
                Route("/child", child),
                Route("/untouched", untouched),
                Route("/late", late),
                Route("/cookies", cookies),
            ],
            lifespan=lifespan,
        )
        # A synchronous store: the middleware runs it on worker threads.
        live = LiveASGI(satchel_asgi.SessionMiddleware(app, settings, store=counting_store))
        try:
            yield Served(live.base_url, counting_store.ops, lambda: probes[0])
        finally:
            live.stop()


def test_a_task_that_served_a_request_is_left_with_none(
    settings: Settings, counting_store: CountingStore
) -> None:
    # A server may serve several requests of a connection in one task.
    app = satchel_asgi.SessionMiddleware(
        Starlette(routes=[Route("/untouched", untouched)]), settings, store=counting_store
    )
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    async def serve_twice() -> bool:
        scope = {"type": "http", "method": "GET", "path": "/untouched", "headers": []}
        for _ in range(2):
            await app({**scope, "asgi": {"version": "3.0"}}, receive, send)
        return satchel.has_request_context()

    assert asyncio.run(serve_twice()) is False
    assert [message["body"] for message in sent if message["type"] == "http.response.body"] == [
        b"True",
        b"True",
    ]
