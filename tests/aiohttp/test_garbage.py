"""A request served by the aiohttp adapter leaves no reference cycle behind.

A cycle per request makes the garbage collector run often in a busy server
and walk every young object each time: in the end-to-end benchmark one such
cycle (the request holding its state, the state its request) cost more CPU
per request than the whole cookie session.
"""

from __future__ import annotations

import asyncio
import gc

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import satchel_aiohttp
from satchel import AsyncMemoryStore, Keyring, Settings

from ..conftest import SECRET


async def _change(request: web.Request) -> web.Response:
    session = await satchel_aiohttp.get_session(request)
    session["visits"] = session.get("visits", 0) + 1
    return web.Response(text=str(session["visits"]))


async def _untouched(request: web.Request) -> web.Response:
    return web.Response(text="nothing")


async def _unreachable_after_requests(storage: str) -> int:
    app = web.Application()
    store = AsyncMemoryStore() if storage == "server" else None
    settings = Settings(keyring=Keyring([SECRET]), secure=False)
    satchel_aiohttp.setup(app, settings, store=store, sweep_interval=None)
    app.router.add_get("/", _change)
    app.router.add_get("/untouched", _untouched)
    async with TestClient(TestServer(app)) as client:
        for path in ("/", "/untouched", "/"):
            await (await client.get(path)).read()  # warm up, and log in
        gc.collect()
        gc.disable()
        try:
            for _ in range(20):
                for path in ("/", "/untouched"):
                    await (await client.get(path)).read()
            return gc.collect()
        finally:
            gc.enable()


@pytest.mark.parametrize("storage", ["cookie", "server"])
def test_requests_leave_nothing_for_the_collector(storage: str) -> None:
    assert asyncio.run(_unreachable_after_requests(storage)) == 0
