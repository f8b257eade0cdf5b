"""satchel sessions for Flask: ``flask.session`` becomes a satchel session.

Install the extension once::

    Satchel(app, settings=Settings(keyring=Keyring([secret])), store=MemoryStore())

and use ``flask.session``, ``flash()`` and ``get_flashed_messages()`` as
usual; call `regenerate` on login and `invalidate` on logout. The session is
opened only when a view touches it, and saved when Flask saves sessions,
before the response starts.
"""

from __future__ import annotations

from ._extension import (
    ENVIRON_KEY,
    Satchel,
    SatchelSessionInterface,
    StoreErrorHook,
    TimeoutHook,
    delete_cookie,
    get_session,
    invalidate,
    regenerate,
    request_cookies,
    set_cookie,
)
from ._session import FLASHES_KEY, FlaskSession, SessionTimedOut, SessionUnavailable

__all__ = [
    "ENVIRON_KEY",
    "FLASHES_KEY",
    "FlaskSession",
    "Satchel",
    "SatchelSessionInterface",
    "SessionTimedOut",
    "SessionUnavailable",
    "StoreErrorHook",
    "TimeoutHook",
    "delete_cookie",
    "get_session",
    "invalidate",
    "regenerate",
    "request_cookies",
    "set_cookie",
]
