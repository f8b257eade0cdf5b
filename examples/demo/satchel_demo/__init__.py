"""The satchel demo app: one set of routes on aiohttp, Tornado and WSGI."""

from __future__ import annotations

from ._config import DemoConfig, make_store
from ._routes import Reply

__all__ = ["DemoConfig", "Reply", "make_store"]
