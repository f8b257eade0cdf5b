"""satchel sessions for aiohttp.

::

    satchel_aiohttp.setup(app, settings, store=satchel.AsyncMemoryStore())

    async def handler(request):
        session = await satchel_aiohttp.get_session(request)
        session["visits"] = session.get("visits", 0) + 1
        ...

The session is loaded only when a handler asks for it, and its cookie and
cache headers are added before any response's headers are sent: returned,
raised as an HTTP exception, streamed, or a websocket handshake.
"""

from __future__ import annotations

from ._middleware import (
    StoreErrorHook,
    TimeoutHook,
    delete_cookie,
    get_session,
    request_cookies,
    set_cookie,
)
from ._setup import runtime_of, setup

__all__ = [
    "StoreErrorHook",
    "TimeoutHook",
    "delete_cookie",
    "get_session",
    "request_cookies",
    "runtime_of",
    "set_cookie",
    "setup",
]
