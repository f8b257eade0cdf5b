"""A request served by the ASGI middleware leaves no reference cycle behind
(see tests/aiohttp/test_garbage.py for why it matters).
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import satchel_asgi
from satchel import AsyncMemoryStore, Keyring, Settings

from ..conftest import SECRET


async def _change(request: Request) -> PlainTextResponse:
    session = await satchel_asgi.load_session(request)
    session["visits"] = session.get("visits", 0) + 1
    return PlainTextResponse(str(session["visits"]))


async def _untouched(request: Request) -> PlainTextResponse:
    return PlainTextResponse("nothing")


async def _call(app: Any, path: str, cookie: str) -> str:
    """One request, straight through the ASGI interface; the new cookie, if any."""
    headers = [(b"host", b"test")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    for name, value in sent[0]["headers"]:
        if name == b"set-cookie":
            return str(value.decode().split(";", 1)[0])
    return cookie


@pytest.mark.parametrize("storage", ["cookie", "server"])
def test_requests_leave_nothing_for_the_collector(storage: str) -> None:
    store = AsyncMemoryStore() if storage == "server" else None
    app = satchel_asgi.SessionMiddleware(
        Starlette(routes=[Route("/", _change), Route("/untouched", _untouched)]),
        Settings(keyring=Keyring([SECRET])),
        store=store,
        sweep_interval=None,
    )

    async def scenario() -> int:
        cookie = ""
        for path in ("/", "/untouched", "/"):
            cookie = await _call(app, path, cookie)
        gc.collect()
        gc.disable()
        try:
            for _ in range(20):
                for path in ("/", "/untouched"):
                    cookie = await _call(app, path, cookie)
            return gc.collect()
        finally:
            gc.enable()

    assert asyncio.run(scenario()) == 0
