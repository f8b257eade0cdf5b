"""Each request's session state in its scope, and the accessors that reach it.

The middleware puts a `RequestState` in every HTTP and websocket scope under
`SCOPE_KEY`. Frameworks build their request objects over that same scope
dict (or a copy of it, which still holds the same state object), so any
function that can see the scope can reach the session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, MutableMapping
from typing import Any, Final, Unpack, final

from satchel import (
    AsyncSessionRuntime,
    CookieAttributes,
    CookieOptions,
    EndedReason,
    Exchange,
    ExchangeContext,
    ProtocolError,
    Session,
    SessionTimedOut,
    State,
    StoreError,
    session_timed_out,
)

__all__ = [
    "LOGGER",
    "SCOPE_KEY",
    "RequestState",
    "SessionTimedOut",
    "delete_cookie",
    "get_session",
    "load_session",
    "request_cookies",
    "scope_of",
    "set_cookie",
]

LOGGER = logging.getLogger("satchel.asgi")

SCOPE_KEY: Final = "satchel.asgi"
"""The scope key each request's state is kept under (dotted, like the ASGI
spec's own extension keys, so it never collides with a framework's)."""


@final
class RequestState(ExchangeContext):
    """One request's exchange and what the middleware knows about it; the
    request's `satchel.RequestContext` while the middleware serves it.
    """

    __slots__ = (
        "_runtime",
        "done",
        "exchange",
        "lock",
        "scope",
        "store_error",
        "timed_out",
        "timeout_answered",
        "websocket",
    )

    def __init__(
        self,
        runtime: AsyncSessionRuntime,
        exchange: Exchange,
        scope: MutableMapping[str, Any],
        *,
        websocket: bool,
    ) -> None:
        self._runtime = runtime
        self.exchange = exchange
        self.scope = scope
        self.websocket = websocket
        # True once the exchange is finished or abandoned: the headers are
        # decided, and nothing of this request is finished again.
        self.done = False
        # Made only when a handler asks for a server-side session, and only
        # needed if it asks from several tasks at once.
        self.lock: asyncio.Lock | None = None
        self.store_error: StoreError | None = None
        self.timed_out: EndedReason | None = None
        # Set while the timeout response runs: it gets the fresh session.
        self.timeout_answered = False

    @property
    def runtime(self) -> AsyncSessionRuntime:
        """The middleware's runtime: its store, for listing and ending the
        sessions of an owner (`satchel.load_owner_sessions`).
        """
        return self._runtime

    def store_failed(self, error: StoreError) -> None:
        """Remember and log a store failure, once however often it is met."""
        if self.store_error is None:
            self.store_error = error
            self.runtime.log_store_error(error)

    def check_usable(self) -> None:
        """Raise what a request that met a failure or a timeout must raise."""
        if self.store_error is not None:
            raise self.store_error
        if self.timed_out is not None and not self.timeout_answered:
            raise SessionTimedOut(self.timed_out)

    async def load(self, scope: MutableMapping[str, Any]) -> Session:
        """The session, opened and loaded on first use, published in `scope`;
        see `load_session`.
        """
        self.check_usable()
        exchange = self.exchange
        if exchange.state is State.OPEN:
            return exchange.session
        if self.done:
            raise ProtocolError(
                "load_session() after the response started: its headers are sent, "
                "so the session can no longer change"
            )
        runtime = self.runtime
        if runtime.store is None:
            # Cookie storage: no I/O, so no other task can interleave.
            session = await runtime.load(exchange)
        else:
            lock = self.lock
            if lock is None:
                lock = self.lock = asyncio.Lock()
            async with lock:
                self.check_usable()
                if exchange.state is not State.IDLE:
                    # Another task of this request opened it while this one waited.
                    return exchange.session
                try:
                    session = await runtime.load(exchange)
                except StoreError as error:
                    self.store_failed(error)
                    raise
        _publish(scope, session)
        # Only the call that opened the session gets here. A websocket client
        # cannot follow a redirect: it gets the fresh session (ended_reason says
        # why), and the accept carries the header that expires the old cookie.
        if session_timed_out(session) and not self.websocket:
            self.timed_out = session.ended_reason
            raise SessionTimedOut(session.ended_reason)  # type: ignore[arg-type]
        return session

    def get_session(self) -> Session:
        """The session once loaded (no I/O); see `get_session` (the function)."""
        self.check_usable()
        exchange = self.exchange
        if exchange.state is State.IDLE and not self.done:
            raise ProtocolError(
                "the session of this request is not loaded yet, and loading it awaits the "
                "store: await satchel_asgi.load_session(request) (or "
                "satchel.load_current_session()) first"
            )
        return exchange.session

    async def load_session(self) -> Session:
        """The session, loaded on first use; see `load_session` (the function)."""
        return await self.load(self.scope)


def scope_of(connection: Any) -> MutableMapping[str, Any]:
    """The ASGI scope of `connection`: a scope, or an object with a ``scope``."""
    scope = getattr(connection, "scope", connection)
    if not isinstance(scope, MutableMapping):
        raise TypeError(
            "expected an ASGI scope or a request object with a .scope, "
            f"got {type(connection).__name__}"
        )
    return scope


def _state_of(connection: Any) -> RequestState:
    state = scope_of(connection).get(SCOPE_KEY)
    if not isinstance(state, RequestState):
        raise RuntimeError(
            "this request has no satchel session: wrap the application in "
            "satchel_asgi.SessionMiddleware(app, settings=..., ...)"
        )
    return state


def _publish(scope: MutableMapping[str, Any], session: Session) -> None:
    # Starlette's and Litestar's ``request.state`` is a view of scope["state"].
    state = scope.get("state")
    if state is None:
        state = scope["state"] = {}
    if isinstance(state, MutableMapping):
        state["session"] = session


async def load_session(scope: Any) -> Session:
    """The request's session, opened (and loaded from the store) on first use.

    Pass the ASGI scope, or any request or websocket object with a ``scope``
    attribute (Starlette, FastAPI, Litestar). A request that never calls it
    costs no store operation and gets no session cookie. Later calls return
    the same session, also from several tasks of one request at once. Once
    loaded, the session is also `get_session` (scope) and
    ``request.state.session`` (``scope["state"]["session"]``).

    Raises:
        SessionTimedOut: the session the request presented ended by idle or
            absolute timeout (HTTP only); the middleware answers the request
            with its timeout response.
        satchel.StoreError: the store failed (logged once); the middleware
            answers 503 (or with ``on_store_error``).
        satchel.ProtocolError: the response's headers were already sent.
        RuntimeError: the application is not wrapped in `SessionMiddleware`.

    """
    asgi_scope = scope_of(scope)
    return await _state_of(asgi_scope).load(asgi_scope)


def get_session(scope: Any) -> Session:
    """The request's session, once `load_session` has opened it (no I/O).

    For synchronous code (a template helper, a sync dependency) that runs
    after the session was loaded. Pass the scope or a request object.

    Raises:
        SessionTimedOut: as for `load_session`.
        satchel.StoreError: the store failed while loading.
        satchel.ProtocolError: the session was never loaded in this request,
            or the response's headers were already sent.
        RuntimeError: the application is not wrapped in `SessionMiddleware`.

    """
    return _state_of(scope).get_session()


def request_cookies(scope: Any) -> Mapping[str, str]:
    """The request's cookies, name → value, without opening the session.

    Parsed leniently from every ``Cookie`` header of the request by satchel (a
    malformed pair is skipped, never an error); the first of duplicated
    names wins. Values are returned as sent, not decoded.
    """
    return _state_of(scope).request_cookies


def set_cookie(scope: Any, name: str, value: str, **options: Unpack[CookieOptions]) -> None:
    """Add a ``Set-Cookie`` for an application cookie to this request's response.

    The cookie is validated at once: a name, value or attribute that could
    inject another attribute raises `satchel.CookieError` and nothing is
    added. It is sent with the response's headers, whether or not the session
    was opened; the session cookie's own name is refused.

    Raises:
        satchel.CookieError: the cookie would be malformed or unsafe.
        satchel.ProtocolError: the response's headers were already sent.

    """
    _state_of(scope).set_cookie(name, value, **options)


def delete_cookie(scope: Any, name: str, **attributes: Unpack[CookieAttributes]) -> None:
    """Expire an application cookie; pass the `path` and `domain` it was set with.

    Raises:
        satchel.CookieError: the name is invalid or is the session cookie's.
        satchel.ProtocolError: the response's headers were already sent.

    """
    _state_of(scope).delete_cookie(name, **attributes)
