"""A login and a visit counter on Starlette, with satchel sessions.

    export SATCHEL_SECRET="$(python -m satchel keygen)"
    uvicorn examples.asgi_app:app --port 8080   # or: python examples/asgi_app.py

Then open http://localhost:8080/, http://localhost:8080/login/ada and / again.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import satchel
import satchel_asgi


async def login(request: Request) -> PlainTextResponse:
    """Sign in as the name in the URL."""
    session = await satchel_asgi.load_session(request)
    session.regenerate()  # a new session ID on login defeats session fixation
    session["user"] = request.path_params["name"]
    return PlainTextResponse(f"Logged in as {session['user']}")


async def counter(request: Request) -> PlainTextResponse:
    """Count this browser's visits."""
    await satchel_asgi.load_session(request)
    session = request.state.session  # the same session, once loaded
    session["visits"] = session.get("visits", 0) + 1
    user = session.get("user", "a guest")
    return PlainTextResponse(f"Hello {user}, visit number {session['visits']}")


def make_app() -> satchel_asgi.SessionMiddleware:
    """The application, with sessions kept in memory."""
    # The secret comes from the environment, never from the source code.
    keyring = satchel.Keyring([os.environ["SATCHEL_SECRET"]])
    # Cookies are Secure by default: browsers accept them over HTTPS and
    # from http://localhost, which is what this example serves.
    settings = satchel.Settings(keyring=keyring, idle_timeout=30 * 60)
    app = Starlette(routes=[Route("/", counter), Route("/login/{name}", login)])
    # Outermost, so every response, and the lifespan, passes through it.
    return satchel_asgi.SessionMiddleware(app, settings, store=satchel.AsyncMemoryStore())


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(make_app(), host="localhost", port=8080)
