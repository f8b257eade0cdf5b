"""`session_dependency`: the session as a FastAPI dependency, without
importing FastAPI or Starlette until FastAPI asks.
"""

from __future__ import annotations

import inspect
from typing import Any, Final, final

from satchel import Session

from ._access import load_session

__all__ = ["SessionDependency", "session_dependency"]


@final
class SessionDependency:
    """The type of `session_dependency`.

    FastAPI reads a dependency's parameters from its signature; this one
    names a parameter typed as Starlette's ``HTTPConnection`` (so FastAPI
    passes the request or the websocket), and imports Starlette only when
    FastAPI reads the signature. The middleware itself imports no framework.
    """

    __slots__ = ()

    @property
    def __signature__(self) -> inspect.Signature:
        """``(connection: starlette.requests.HTTPConnection) -> satchel.Session``."""
        from starlette.requests import HTTPConnection  # only FastAPI asks; it brings Starlette

        parameter = inspect.Parameter(
            "connection", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=HTTPConnection
        )
        return inspect.Signature([parameter], return_annotation=Session)

    def __repr__(self) -> str:
        return "satchel_asgi.session_dependency"

    async def __call__(self, connection: Any) -> Session:
        """`load_session` for the request or websocket FastAPI passes."""
        return await load_session(connection)


session_dependency: Final = SessionDependency()
"""The request's session as a FastAPI dependency: ``session: Session =
Depends(session_dependency)`` (or ``Annotated[Session, Depends(...)]``) in a
path operation or websocket endpoint. It is `load_session`, so it raises
what that raises, and FastAPI caches it per request like any dependency."""
