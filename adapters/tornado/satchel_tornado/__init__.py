"""satchel for Tornado: HTTP sessions for `tornado.web.RequestHandler`.

Put a `SessionConfig` in the Application settings under ``"satchel"``, mix
`SessionMixin` into your handlers, and ``session = await self.get_session()``.
Start a `Sweeper` with `start_sweeper` for stores that keep expired records.
"""

from __future__ import annotations

from ._config import SETTINGS_KEY, SessionConfig, StoreErrorHook, TimeoutHook
from ._handler import STORE_ERROR_BODY, SessionMixin
from ._sweeper import Sweeper, start_sweeper

__all__ = [
    "SETTINGS_KEY",
    "STORE_ERROR_BODY",
    "SessionConfig",
    "SessionMixin",
    "StoreErrorHook",
    "Sweeper",
    "TimeoutHook",
    "start_sweeper",
]
