"""A test application exercising every kind of response the adapter handles."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

import satchel_aiohttp
from satchel import CookieError, ProtocolError, Session, Settings

KEPT = web.AppKey("kept", list[Session])


async def login(request: web.Request) -> web.Response:
    session = await satchel_aiohttp.get_session(request)
    session.regenerate()
    session["user"] = request.match_info["user"]
    return web.Response(text="logged in")


async def whoami(request: web.Request) -> web.Response:
    session = await satchel_aiohttp.get_session(request)
    return web.Response(text=str(session.get("user", "")))


async def get(request: web.Request) -> web.Response:
    session = await satchel_aiohttp.get_session(request)
    return web.json_response(dict(session))


async def put(request: web.Request) -> web.Response:
    session = await satchel_aiohttp.get_session(request)
    session[request.match_info["key"]] = request.match_info["value"]
    return web.Response(text="put")


async def twice(request: web.Request) -> web.Response:
    """Ask for the session from two tasks at once."""
    first, second = await asyncio.gather(
        satchel_aiohttp.get_session(request), satchel_aiohttp.get_session(request)
    )
    return web.Response(text=f"same={first is second} user={first.get('user', '')}")


async def show_flash(request: web.Request) -> web.Response:
    session = await satchel_aiohttp.get_session(request)
    return web.Response(text=str(session.flashed.get("message", "")))


async def redirect(request: web.Request) -> web.Response:
    session = await satchel_aiohttp.get_session(request)
    session["user"] = request.match_info["user"]
    raise web.HTTPFound("/whoami")


async def forbid(request: web.Request) -> web.Response:
    session = await satchel_aiohttp.get_session(request)
    session["user"] = request.match_info["user"]
    raise web.HTTPForbidden(text="forbidden")


async def crash(request: web.Request) -> web.Response:
    session = await satchel_aiohttp.get_session(request)
    session["user"] = request.match_info["user"]
    raise RuntimeError("the handler failed")


async def stream(request: web.Request) -> web.StreamResponse:
    session = await satchel_aiohttp.get_session(request)
    session["user"] = request.match_info["user"]
    response = web.StreamResponse()
    response.content_type = "text/plain"
    await response.prepare(request)
    for index in range(3):
        await response.write(f"part {index}\n".encode())
    await response.write_eof()
    return response


async def late(request: web.Request) -> web.StreamResponse:
    """Change the session before the headers go, then try to touch it after."""
    session = await satchel_aiohttp.get_session(request)
    session["before"] = "yes"
    response = web.StreamResponse()
    await response.prepare(request)
    results: list[str] = []
    attempts: list[tuple[str, Any]] = [
        ("session", lambda: session.__setitem__("late", "yes")),
        ("set_cookie", lambda: satchel_aiohttp.set_cookie(request, "late", "yes")),
    ]
    for name, attempt in attempts:
        try:
            attempt()
        except ProtocolError:
            results.append(f"{name}: ProtocolError")
        else:
            results.append(f"{name}: accepted")
    try:
        await satchel_aiohttp.get_session(request)
    except ProtocolError:
        results.append("get_session: ProtocolError")
    else:
        results.append("get_session: accepted")
    await response.write("\n".join(results).encode())
    await response.write_eof()
    return response


async def keep(request: web.Request) -> web.Response:
    session = await satchel_aiohttp.get_session(request)
    session["kept"] = "yes"
    request.app[KEPT].append(session)
    return web.Response(text="kept")


async def keep_and_crash(request: web.Request) -> web.Response:
    session = await satchel_aiohttp.get_session(request)
    session["kept"] = "yes"
    request.app[KEPT].append(session)
    raise RuntimeError("the handler failed")


async def touch_kept(request: web.Request) -> web.Response:
    try:
        request.app[KEPT][-1]["after"] = "yes"
    except ProtocolError:
        return web.Response(text="ProtocolError")
    return web.Response(text="accepted")


async def websocket(request: web.Request) -> web.WebSocketResponse:
    session = await satchel_aiohttp.get_session(request)
    user = session.get("user", "")
    session["ws"] = "yes"
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    try:
        session["after"] = "yes"
    except ProtocolError:
        late = "ProtocolError"
    else:
        late = "accepted"
    await ws.send_str(f"user={user} late={late}")
    await ws.close()
    return ws


async def too_big(request: web.Request) -> web.Response:
    session = await satchel_aiohttp.get_session(request)
    session["blob"] = secrets.token_hex(4000)  # random, so it cannot compress below 4096
    return web.Response(text="stored")


async def unstorable(request: web.Request) -> web.Response:
    session = await satchel_aiohttp.get_session(request)
    session["bad"] = object()
    return web.Response(text="stored")


async def set_plain(request: web.Request) -> web.Response:
    try:
        satchel_aiohttp.set_cookie(
            request, request.match_info["name"], request.match_info["value"], max_age=60
        )
    except CookieError as error:
        raise web.HTTPBadRequest(text=str(error)) from None
    return web.Response(text="set")


async def delete_plain(request: web.Request) -> web.Response:
    satchel_aiohttp.delete_cookie(request, request.match_info["name"])
    return web.Response(text="deleted")


async def cookies(request: web.Request) -> web.Response:
    return web.Response(text=json.dumps(dict(satchel_aiohttp.request_cookies(request))))


async def nothing(request: web.Request) -> web.Response:
    return web.Response(text="nothing")


def make_app(
    settings: Settings, *, middlewares: Sequence[Middleware] = (), **setup: Any
) -> web.Application:
    """The test app, with `middlewares`, then `satchel_aiohttp.setup(app, settings, **setup)`."""
    app = web.Application(middlewares=middlewares)
    app[KEPT] = []
    satchel_aiohttp.setup(app, settings, **setup)
    app.add_routes(
        [
            web.get("/login/{user}", login),
            web.get("/whoami", whoami),
            web.get("/get", get),
            web.get("/put/{key}/{value}", put),
            web.get("/show-flash", show_flash),
            web.get("/twice", twice),
            web.get("/redirect/{user}", redirect),
            web.get("/forbid/{user}", forbid),
            web.get("/crash/{user}", crash),
            web.get("/stream/{user}", stream),
            web.get("/late", late),
            web.get("/keep", keep),
            web.get("/keep-and-crash", keep_and_crash),
            web.get("/touch-kept", touch_kept),
            web.get("/ws", websocket),
            web.get("/too-big", too_big),
            web.get("/unstorable", unstorable),
            web.get("/set/{name}/{value}", set_plain),
            web.get("/delete/{name}", delete_plain),
            web.get("/cookies", cookies),
            web.get("/nothing", nothing),
        ]
    )
    return app
