"""A login and a visit counter on aiohttp, with satchel sessions.

    export SATCHEL_SECRET="$(python -m satchel keygen)"
    python examples/aiohttp_app.py

Then open http://localhost:8080/, http://localhost:8080/login/ada and / again.
"""

from __future__ import annotations

import os

from aiohttp import web

import satchel
import satchel_aiohttp


async def login(request: web.Request) -> web.Response:
    """Sign in as the name in the URL."""
    session = await satchel_aiohttp.get_session(request)
    session.regenerate()  # a new session ID on login defeats session fixation
    session["user"] = request.match_info["name"]
    return web.Response(text=f"Logged in as {session['user']}")


async def counter(request: web.Request) -> web.Response:
    """Count this browser's visits."""
    session = await satchel_aiohttp.get_session(request)
    session["visits"] = session.get("visits", 0) + 1
    user = session.get("user", "a guest")
    return web.Response(text=f"Hello {user}, visit number {session['visits']}")


def make_app() -> web.Application:
    """The application, with sessions kept in memory."""
    # The secret comes from the environment, never from the source code.
    keyring = satchel.Keyring([os.environ["SATCHEL_SECRET"]])
    # Cookies are Secure by default: browsers accept them over HTTPS and
    # from http://localhost, which is what this example serves.
    settings = satchel.Settings(keyring=keyring, idle_timeout=30 * 60)
    app = web.Application()
    satchel_aiohttp.setup(app, settings, store=satchel.AsyncMemoryStore())
    app.router.add_get("/", counter)
    app.router.add_get("/login/{name}", login)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="localhost", port=8080)
