"""The request-scoped context: the current request's session from any function.

Every adapter binds its per-request state (a `RequestContext`, or a
`RequestContextSource` that makes one on first use) to one
`contextvars.ContextVar` for the duration of a request, and resets it after:

    token = enter_request(state)
    try:
        ...  # run the application
    finally:
        exit_request(token)

Code anywhere below the handler then reaches the session, the request's
cookies and the response's cookies with no request object passed down:
`current_session`, `load_current_session`, `current_request_cookies`,
`set_response_cookie`, `delete_response_cookie`. What the variable holds is
the adapter's cheap per-request state, never a loaded session, so a request
whose code never asks still costs no cookie parse and no store op.

A context variable is per thread and per asyncio task: each WSGI request
thread and each request task sees its own request, and a task a handler
creates copies the context it was created in, so it sees its request too.
Code outside any request gets `NoRequestContext`, never another request's
session.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Final, Protocol, Unpack

from ._adapter import AsyncSessionRuntime, SessionRuntime
from ._cookies import CookieAttributes, CookieOptions
from ._errors import NoRequestContext, ProtocolError
from ._owners import SessionInfo
from ._session import Session

if TYPE_CHECKING:
    from ._exchange import Exchange

__all__ = [
    "ExchangeContext",
    "RequestContext",
    "RequestContextSource",
    "aend_owner_session",
    "current_request_cookies",
    "current_session",
    "delete_response_cookie",
    "end_owner_session",
    "enter_request",
    "exit_request",
    "has_request_context",
    "load_current_session",
    "load_owner_sessions",
    "owner_sessions",
    "set_response_cookie",
]


class RequestContextSource(Protocol):
    """What `enter_request` binds: anything that gives the request's
    `RequestContext` when an accessor is first called.

    A `RequestContext` is its own source. An adapter whose per-request object
    cannot be one (its method names are the framework's, as on a Tornado
    handler) binds that object instead, and makes the `RequestContext` only
    when some code asks: a request that never does pays for no object.
    """

    def satchel_request_context(self) -> RequestContext | None:
        """The request's `RequestContext`, or ``None`` if the source knows its
        request is over (a binding its adapter could not undo): the accessors
        then raise `NoRequestContext`, as if nothing were bound.
        """
        ...


class RequestContext(abc.ABC):
    """What an adapter binds for one request: its way to the request's
    session and cookies.

    An adapter implements this on the object it already keeps per request,
    binds it with `enter_request` when the request starts and unbinds it with
    `exit_request` when it ends. Nothing may be parsed or loaded until one of
    the methods is called.
    """

    __slots__ = ()

    def satchel_request_context(self) -> RequestContext | None:
        """Return the context itself: a `RequestContext` is its own
        `RequestContextSource` (see there for when to return ``None``).
        """
        return self

    @abc.abstractmethod
    def get_session(self) -> Session:
        """The request's session, without waiting for I/O.

        Adapters with a synchronous store open (and load) it here on first
        use; asynchronous adapters return it once it is loaded and otherwise
        raise `ProtocolError`, telling the caller to await `load_session`.

        Raises:
            ProtocolError: the session cannot be had without awaiting, or the
                response's headers were already sent.

        """

    @abc.abstractmethod
    async def load_session(self) -> Session:
        """The request's session, opened and loaded from the store on first use."""

    @property
    @abc.abstractmethod
    def request_cookies(self) -> Mapping[str, str]:
        """The request's cookies, name → value as sent, without opening the session."""

    @abc.abstractmethod
    def set_cookie(self, name: str, value: str, **options: Unpack[CookieOptions]) -> None:
        """Add a validated ``Set-Cookie`` for an application cookie to the response."""

    @abc.abstractmethod
    def delete_cookie(self, name: str, **attributes: Unpack[CookieAttributes]) -> None:
        """Expire an application cookie; pass the Path and Domain it was set with."""

    @property
    def runtime(self) -> SessionRuntime | AsyncSessionRuntime:
        """The adapter's runtime (its store and protocol), for what reaches
        beyond the request's own session: listing and ending the sessions of
        its owner (`owner_sessions`). Adapters built on the core's runtime
        return it; by default there is none.

        Raises:
            ProtocolError: the adapter gives no access to its runtime.

        """
        raise ProtocolError(
            f"{type(self).__name__} gives no access to its adapter's runtime, so the "
            "sessions of an owner cannot be listed or ended from the request"
        )


class ExchangeContext(RequestContext):
    """A `RequestContext` whose cookies are those of its `exchange`: an
    adapter's per-request state with an ``exchange`` attribute subclasses
    it and writes only `get_session` and `load_session`.
    """

    __slots__ = ()

    exchange: Exchange
    """The request's exchange (a slot or attribute of the subclass)."""

    @property
    def request_cookies(self) -> Mapping[str, str]:
        """The exchange's ``request_cookies`` (parsed on first use)."""
        return self.exchange.request_cookies

    def set_cookie(self, name: str, value: str, **options: Unpack[CookieOptions]) -> None:
        """The exchange's ``set_cookie``."""
        self.exchange.set_cookie(name, value, **options)

    def delete_cookie(self, name: str, **attributes: Unpack[CookieAttributes]) -> None:
        """The exchange's ``delete_cookie``."""
        self.exchange.delete_cookie(name, **attributes)


_current: ContextVar[RequestContextSource] = ContextVar("satchel.request")

# The variable's own methods, not wrappers: an adapter pays for the binding on
# every request, including those that never touch the session.
enter_request: Final[Callable[[RequestContextSource], Token[RequestContextSource]]] = _current.set
"""``enter_request(source) -> token``: bind a `RequestContext` (or a
`RequestContextSource`) as the current request's in this thread or task
(`contextvars.ContextVar.set`). Adapters call it when a request starts and
pass the token to `exit_request` when it ends."""

exit_request: Final[Callable[[Token[RequestContextSource]], None]] = _current.reset
"""``exit_request(token)``: restore what was bound before the matching
`enter_request` (`contextvars.ContextVar.reset`); call it in a ``finally``, in
the thread or task that entered."""


def _context(accessor: str) -> RequestContext:
    source = _current.get(None)
    if source is not None:
        context = source.satchel_request_context()
        if context is not None:
            return context
    raise NoRequestContext(
        f"satchel.{accessor}() was called outside of a request: no satchel adapter is "
        "serving a request in this thread or task (code run at import time, in a "
        "background job, or in a thread the request did not start has no current "
        "request); pass the session explicitly there"
    )


def has_request_context() -> bool:
    """True while a satchel adapter serves a request in this thread or task."""
    source = _current.get(None)
    return source is not None and source.satchel_request_context() is not None


def current_session() -> Session:
    """The current request's session, from any function the request calls.

    With a synchronous adapter (WSGI, Flask) this opens and loads the session
    on first use, like the adapter's own accessor. With an asynchronous one
    (aiohttp, Tornado, ASGI) the session must already be loaded in this
    request; otherwise use ``await load_current_session()``.

    Raises:
        NoRequestContext: no request is being served in this thread or task.
        ProtocolError: the session is not loaded yet and loading it means
            awaiting the store, or the response's headers were already sent.

    The adapter's own errors (its timeout answer, a store failure) pass
    through as from its own accessor.
    """
    return _context("current_session").get_session()


async def load_current_session() -> Session:
    """The current request's session, loaded from the store on first use;
    works with every adapter.

    Raises:
        NoRequestContext: no request is being served in this thread or task.
        ProtocolError: the response's headers were already sent.

    """
    return await _context("load_current_session").load_session()


def current_request_cookies() -> Mapping[str, str]:
    """The current request's cookies, name → value as sent (the first of
    repeated names wins); reading them does not open the session.

    Raises:
        NoRequestContext: no request is being served in this thread or task.

    """
    return _context("current_request_cookies").request_cookies


def set_response_cookie(name: str, value: str, **options: Unpack[CookieOptions]) -> None:
    """Add a ``Set-Cookie`` for an application cookie to the current
    request's response, through its adapter; does not open the session.

    Raises:
        NoRequestContext: no request is being served in this thread or task.
        CookieError: the cookie would be malformed or unsafe, or has the
            session cookie's name.
        ProtocolError: the response's headers were already sent.

    """
    _context("set_response_cookie").set_cookie(name, value, **options)


def delete_response_cookie(name: str, **attributes: Unpack[CookieAttributes]) -> None:
    """Expire an application cookie in the current request's response; pass
    the Path and Domain it was set with.

    Raises:
        NoRequestContext: no request is being served in this thread or task.
        CookieError: the name is invalid or is the session cookie's.
        ProtocolError: the response's headers were already sent.

    """
    _context("delete_response_cookie").delete_cookie(name, **attributes)


def _owner_of(session: Session) -> str:
    owner = session.owner
    if owner is None:
        raise ProtocolError(
            "the current session has no owner: tie it to one at login with "
            "session.regenerate(owner=...)"
        )
    return owner


def owner_sessions() -> list[SessionInfo]:
    """The live sessions of the current session's owner, most recently seen
    first, the current one marked ``current`` (docs/owners.md).

    For synchronous adapters (WSGI, Flask), whose store calls block; with an
    asynchronous one, ``await load_owner_sessions()``.

    Raises:
        NoRequestContext: no request is being served in this thread or task.
        ProtocolError: the session has no owner, or the adapter is
            asynchronous (or gives no access to its runtime).
        OwnerIndexUnavailable: cookie storage, or a store without an owner index.
        StoreError: the store failed (the adapter answers 503).

    """
    context = _context("owner_sessions")
    runtime = context.runtime
    if not isinstance(runtime, SessionRuntime):
        raise ProtocolError(
            "owner_sessions() needs a synchronous adapter; use await load_owner_sessions()"
        )
    session = context.get_session()
    return runtime.list_sessions(_owner_of(session), current=session.handle)


async def load_owner_sessions() -> list[SessionInfo]:
    """`owner_sessions` for any adapter: the session is loaded first if need
    be, and an asynchronous store is awaited.

    Raises:
        NoRequestContext: no request is being served in this thread or task.
        ProtocolError: the session has no owner (or the adapter gives no
            access to its runtime).
        OwnerIndexUnavailable: cookie storage, or a store without an owner index.
        StoreError: the store failed (the adapter answers 503).

    """
    context = _context("load_owner_sessions")
    runtime = context.runtime
    session = await context.load_session()
    owner, current = _owner_of(session), session.handle
    if isinstance(runtime, AsyncSessionRuntime):
        return await runtime.list_sessions(owner, current=current)
    return runtime.list_sessions(owner, current=current)


def end_owner_session(handle: str) -> bool:
    """End the session of the current session's owner that `handle` names
    (from `owner_sessions`); ``False`` if it names none of them. For
    synchronous adapters; ``await aend_owner_session(handle)`` otherwise.

    Raises:
        NoRequestContext, ProtocolError, OwnerIndexUnavailable, StoreError:
            as for `owner_sessions`.

    """
    context = _context("end_owner_session")
    runtime = context.runtime
    if not isinstance(runtime, SessionRuntime):
        raise ProtocolError(
            "end_owner_session() needs a synchronous adapter; use await aend_owner_session()"
        )
    return runtime.end_session(_owner_of(context.get_session()), handle)


async def aend_owner_session(handle: str) -> bool:
    """`end_owner_session` for any adapter.

    Raises:
        NoRequestContext, ProtocolError, OwnerIndexUnavailable, StoreError:
            as for `load_owner_sessions`.

    """
    context = _context("aend_owner_session")
    runtime = context.runtime
    owner = _owner_of(await context.load_session())
    if isinstance(runtime, AsyncSessionRuntime):
        return await runtime.end_session(owner, handle)
    return runtime.end_session(owner, handle)
