"""The request-scoped context on aiohttp, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiohttp import web

import satchel_aiohttp
from satchel import Settings, ThreadedStore

from ..aiohttp._server import LiveApp
from ..stores import CountingStore
from . import _helpers
from ._checks import AnywhereChecks, Served


def _text(body: str) -> web.Response:
    return web.Response(text=body)


async def login(request: web.Request) -> web.Response:
    return _text(await _helpers.alogin(request.match_info["user"]))


async def whoami(request: web.Request) -> web.Response:
    await asyncio.sleep(0.02)  # the other requests run meanwhile
    return _text(await _helpers.awhoami())


async def child(request: web.Request) -> web.Response:
    return _text(await _helpers.awhoami_in_a_task())


async def untouched(request: web.Request) -> web.Response:
    return _text(_helpers.untouched())


async def late(request: web.Request) -> web.StreamResponse:
    await _helpers.awhoami()
    response = web.StreamResponse()
    await response.prepare(request)  # the headers leave here
    await response.write(_helpers.late().encode())
    await response.write_eof()
    return response


async def cookies(request: web.Request) -> web.Response:
    return _text(_helpers.cookies())


def build_app(settings: Settings, store: CountingStore) -> web.Application:
    app = web.Application()
    satchel_aiohttp.setup(app, settings, store=ThreadedStore(store))
    app.router.add_get("/login/{user}", login)
    app.router.add_get("/whoami", whoami)
    app.router.add_get("/child", child)
    app.router.add_get("/untouched", untouched)
    app.router.add_get("/late", late)
    app.router.add_get("/cookies", cookies)
    return app


class TestAiohttp(AnywhereChecks):
    child_sees = "ada"
    probe_finds = "NoRequestContext|NoRequestContext|NoRequestContext"

    @pytest.fixture
    def served(self, settings: Settings, counting_store: CountingStore) -> Iterator[Served]:
        live = LiveApp(build_app(settings, counting_store))
        try:
            # The probe runs on the server's loop, in a task no request started.
            yield Served(
                live.base_url, counting_store.ops, lambda: live.call(_helpers.aprobe_outside())
            )
        finally:
            live.stop()
