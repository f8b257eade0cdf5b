"""Sessions by owner from outside any request: the app's runtime."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import satchel_aiohttp
from satchel import AsyncMemoryStore, ConfigurationError, Keyring, Settings

from ..conftest import SECRET


async def _login(request: web.Request) -> web.Response:
    session = await satchel_aiohttp.get_session(request)
    session.regenerate(owner=request.match_info["user"])
    session["user"] = request.match_info["user"]
    return web.Response(text="in")


async def _whoami(request: web.Request) -> web.Response:
    session = await satchel_aiohttp.get_session(request)
    return web.Response(text=str(session.get("user", "")))


def test_runtime_of_ends_an_owners_sessions_from_a_job() -> None:
    app = web.Application()
    settings = Settings(keyring=Keyring([SECRET]), secure=False)
    satchel_aiohttp.setup(app, settings, store=AsyncMemoryStore(), sweep_interval=None)
    app.router.add_get("/login/{user}", _login)
    app.router.add_get("/whoami", _whoami)

    async def scenario() -> tuple[int, list[str]]:
        async with TestClient(TestServer(app)) as client:
            await (await client.get("/login/ada")).read()
            ended = await satchel_aiohttp.runtime_of(app).end_sessions("ada")
            seen = [await (await client.get("/whoami")).text()]
        return ended, seen

    assert asyncio.run(scenario()) == (1, [""])


def test_runtime_of_an_app_without_setup_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="setup"):
        satchel_aiohttp.runtime_of(web.Application())
