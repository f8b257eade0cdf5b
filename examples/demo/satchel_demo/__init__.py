"""The satchel demo app: the route contract of `satchel.testing.routes` on
aiohttp, Tornado, WSGI, ASGI (Starlette) and Flask.
"""

from __future__ import annotations

from satchel.testing.routes import Reply

from ._config import DemoConfig, make_store

__all__ = ["DemoConfig", "Reply", "make_store"]
