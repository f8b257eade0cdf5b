"""A login and a visit counter on FastAPI, with satchel sessions as a dependency.

    export SATCHEL_SECRET="$(python -m satchel keygen)"
    python examples/asgi_fastapi_app.py

Then open http://localhost:8080/, http://localhost:8080/login/ada and / again.
"""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import PlainTextResponse

import satchel
import satchel_asgi

# The session, loaded when a path operation asks for it, once per request.
SessionDep = Annotated[satchel.Session, Depends(satchel_asgi.session_dependency)]


def make_app() -> satchel_asgi.SessionMiddleware:
    """The application, with sessions kept in memory."""
    api = FastAPI()

    @api.get("/login/{name}", response_class=PlainTextResponse)
    async def login(name: str, session: SessionDep) -> str:
        """Sign in as the name in the URL."""
        session.regenerate()  # a new session ID on login defeats session fixation
        session["user"] = name
        return f"Logged in as {name}"

    @api.get("/", response_class=PlainTextResponse)
    async def counter(session: SessionDep) -> str:
        """Count this browser's visits."""
        session["visits"] = session.get("visits", 0) + 1
        return f"Hello {session.get('user', 'a guest')}, visit number {session['visits']}"

    @api.get("/admin", response_class=PlainTextResponse)
    async def admin(session: SessionDep) -> str:
        """Only for ada; the refusal is raised, and the session still counts it."""
        session["admin_attempts"] = session.get("admin_attempts", 0) + 1
        if session.get("user") != "ada":
            raise HTTPException(403, "Forbidden")
        return "Welcome, ada"

    keyring = satchel.Keyring([os.environ["SATCHEL_SECRET"]])
    settings = satchel.Settings(keyring=keyring, idle_timeout=30 * 60)
    return satchel_asgi.SessionMiddleware(api, settings, store=satchel.AsyncMemoryStore())


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(make_app(), host="localhost", port=8080)
