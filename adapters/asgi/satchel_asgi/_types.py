"""The ASGI types the middleware speaks, spelled out so no framework is imported."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol, TypeAlias

__all__ = ["ASGIApp", "Connection", "Message", "Receive", "Scope", "Send"]

Scope: TypeAlias = MutableMapping[str, Any]
"""An ASGI connection scope."""

Message: TypeAlias = MutableMapping[str, Any]
"""An ASGI event."""

Receive: TypeAlias = Callable[[], Awaitable[Message]]
"""The ASGI ``receive`` callable."""

Send: TypeAlias = Callable[[Message], Awaitable[None]]
"""The ASGI ``send`` callable."""

ASGIApp: TypeAlias = Callable[[Any, Any, Any], Awaitable[None]]
"""An ASGI 3 application, ``async (scope, receive, send) -> None``.

Its arguments are typed loosely on purpose: frameworks type scopes and
messages each in their own way (Litestar with TypedDicts, Starlette with
mappings), and any of their applications must be accepted."""


class Connection(Protocol):
    """A framework's request or websocket object: anything with the ASGI
    ``scope`` it was made from (Starlette's and Litestar's ``Request`` and
    ``WebSocket``, FastAPI's, ...).
    """

    @property
    def scope(self) -> Scope:
        """The connection's ASGI scope."""
        ...
