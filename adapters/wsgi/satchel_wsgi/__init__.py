"""satchel sessions for any WSGI application.

Wrap the application once::

    application = SessionMiddleware(application, settings, store=MemoryStore())

and, in a request, read ``get_session(environ)`` (or
``environ["satchel.handle"].session``). The session is opened only when asked for,
and its headers are added when the application calls ``start_response``.
"""

from __future__ import annotations

from ._handle import DEFAULT_ENVIRON_KEY, SessionHandle, SessionTimedOut, get_handle, get_session
from ._middleware import SessionMiddleware

__all__ = [
    "DEFAULT_ENVIRON_KEY",
    "SessionHandle",
    "SessionMiddleware",
    "SessionTimedOut",
    "get_handle",
    "get_session",
]
