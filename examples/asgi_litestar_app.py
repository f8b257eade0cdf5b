"""A login and a visit counter on Litestar, with satchel sessions as a dependency.

    export SATCHEL_SECRET="$(python -m satchel keygen)"
    python examples/asgi_litestar_app.py

Then open http://localhost:8080/, http://localhost:8080/login/ada and / again.
"""

from __future__ import annotations

import os

from litestar import Litestar, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.types import Scope

import satchel
import satchel_asgi


async def provide_session(scope: Scope) -> satchel.Session:
    """The session, for Litestar's dependency injection (it injects ``scope``)."""
    return await satchel_asgi.load_session(scope)


@get("/login/{name:str}")
async def login(name: FromPath[str], session: NamedDependency[satchel.Session]) -> str:
    """Sign in as the name in the URL."""
    session.regenerate()  # a new session ID on login defeats session fixation
    session["user"] = name
    return f"Logged in as {name}"


@get("/")
async def counter(session: NamedDependency[satchel.Session]) -> str:
    """Count this browser's visits."""
    session["visits"] = session.get("visits", 0) + 1
    return f"Hello {session.get('user', 'a guest')}, visit number {session['visits']}"


def make_app() -> satchel_asgi.SessionMiddleware:
    """The application, with sessions kept in memory."""
    app = Litestar(
        route_handlers=[login, counter],
        # Handlers that never name `session` never load it.
        dependencies={"session": Provide(provide_session)},
    )
    keyring = satchel.Keyring([os.environ["SATCHEL_SECRET"]])
    settings = satchel.Settings(keyring=keyring, idle_timeout=30 * 60)
    # Wrapping the whole app (not Litestar's per-route middleware list) lets
    # the middleware see the lifespan and every response, errors included.
    return satchel_asgi.SessionMiddleware(app, settings, store=satchel.AsyncMemoryStore())


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(make_app(), host="localhost", port=8080)
