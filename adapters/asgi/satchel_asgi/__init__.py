"""satchel sessions for any ASGI application: Starlette, FastAPI, Litestar, ...

::

    app = SessionMiddleware(app, settings, store=satchel.AsyncMemoryStore())

    async def handler(request):
        session = await load_session(request)  # or the ASGI scope
        session["visits"] = session.get("visits", 0) + 1
        ...

A pure ASGI middleware: it imports no framework. The session is loaded only
when the application asks for it, and its cookie and cache headers are added
when the response starts (returned, raised as an HTTP exception and turned
into a response, streamed, or a websocket accept). Lifespan events run the
sweep of expired records and close the store.
"""

from __future__ import annotations

from ._access import (
    SCOPE_KEY,
    SessionTimedOut,
    delete_cookie,
    get_session,
    load_session,
    request_cookies,
    set_cookie,
)
from ._dependency import SessionDependency, session_dependency
from ._middleware import SWEEP_TASK_NAME, SessionMiddleware
from ._types import ASGIApp, Connection, Message, Receive, Scope, Send

__all__ = [
    "SCOPE_KEY",
    "SWEEP_TASK_NAME",
    "ASGIApp",
    "Connection",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "SessionDependency",
    "SessionMiddleware",
    "SessionTimedOut",
    "delete_cookie",
    "get_session",
    "load_session",
    "request_cookies",
    "session_dependency",
    "set_cookie",
]
