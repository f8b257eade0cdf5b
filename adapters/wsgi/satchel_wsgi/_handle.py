"""The per-request handle the middleware puts in the WSGI environ."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, Unpack, final

from satchel import (
    ConfigurationError,
    CookieAttributes,
    CookieOptions,
    EndedReason,
    Exchange,
    RequestContext,
    Session,
    SessionRuntime,
    SessionTimedOut,
    State,
    StoreError,
    session_timed_out,
)

if TYPE_CHECKING:
    from wsgiref.types import WSGIEnvironment

__all__ = ["DEFAULT_ENVIRON_KEY", "SessionHandle", "SessionTimedOut", "get_handle", "get_session"]

DEFAULT_ENVIRON_KEY: Final = "satchel.handle"
"""The environ key the middleware puts each request's `SessionHandle` under.

Dotted, as PEP 3333 asks of extension keys (an undotted key is taken for a
CGI variable, which must be a string)."""

logger = logging.getLogger("satchel.wsgi")


@final
class SessionHandle(RequestContext):
    """One request's access to its session and cookies.

    The middleware puts one in ``environ["satchel.handle"]`` (see `environ_key`)
    for every request, and binds it as the request's `satchel.RequestContext`
    while the application runs and its body is iterated, so
    ``satchel.current_session()`` is `session` from any function. Reading
    `session` is what opens the session: a request that never reads it costs
    no store operation and gets no session cookie. Reading and writing
    application cookies never opens the session.
    """

    __slots__ = (
        "_ended_reason",
        "_exchange",
        "_runtime",
        "_store_error",
        "_timed_out",
        "_timeout_answered",
    )

    def __init__(self, exchange: Exchange, runtime: SessionRuntime) -> None:
        self._exchange = exchange
        self._runtime = runtime
        self._ended_reason: EndedReason | None = None
        self._timed_out: EndedReason | None = None
        # Set while the timeout response runs: its hook gets the fresh session.
        self._timeout_answered = False
        self._store_error: StoreError | None = None

    def __repr__(self) -> str:
        return f"<SessionHandle state={self._exchange.state.name}>"

    @property
    def runtime(self) -> SessionRuntime:
        """The middleware's runtime: its store, for listing and ending the
        sessions of an owner (`satchel.owner_sessions`).
        """
        return self._runtime

    @property
    def session(self) -> Session:
        """The request's session, opened (and loaded) on first use.

        Raises:
            SessionTimedOut: the session the request presented ended by a
                timeout; the middleware answers with its timeout response.
            satchel.StoreError: the store failed while loading; the middleware
                answers with its store-error response (503 by default).
            satchel.ProtocolError: the response has started (the application
                called ``start_response``), so the session is closed.

        """
        if self._store_error is not None:
            raise self._store_error
        if self._timed_out is not None and not self._timeout_answered:
            raise SessionTimedOut(self._timed_out)
        exchange = self._exchange
        if exchange.state is State.IDLE:
            try:
                self._runtime.load(exchange)  # the Load, if the cookie names a session
            except StoreError as error:
                self._store_failed(error)
                raise
            self._ended_reason = exchange.session.ended_reason
            if session_timed_out(exchange.session):
                self._timed_out = self._ended_reason
                raise SessionTimedOut(self._ended_reason)  # type: ignore[arg-type]
        # Raises ProtocolError once the exchange has finished.
        return exchange.session

    def get_session(self) -> Session:
        """`session`, as a method (the `satchel.RequestContext` interface)."""
        return self.session

    async def load_session(self) -> Session:
        """`session`, as a coroutine (the `satchel.RequestContext` interface):
        the store is synchronous, so it is loaded right here.
        """
        return self.session

    def _store_failed(self, error: StoreError) -> None:
        if self._store_error is None:
            self._store_error = error
            self._runtime.log_store_error(error)

    @property
    def ended_reason(self) -> EndedReason | None:
        """Why the session the request presented had ended, once `session`
        was read: ``"idle"``, ``"absolute"``, ``"invalid"`` or ``None``.
        """
        return self._ended_reason

    @property
    def store_error(self) -> StoreError | None:
        """The store failure this request met, if any (for an
        ``on_store_error`` hook).
        """
        return self._store_error

    @property
    def request_cookies(self) -> Mapping[str, str]:
        """Every cookie of the request, name → value as the browser sent it
        (see `satchel.parse_cookie_pairs`; the first of repeated names wins).

        Reading them does not open the session.
        """
        return self._exchange.request_cookies

    def set_cookie(self, name: str, value: str, **options: Unpack[CookieOptions]) -> None:
        """Add a ``Set-Cookie`` for an application cookie to the response.

        The cookie is validated now and rendered by the core; a name, value or
        attribute that could inject into the header raises
        `satchel.CookieError`. Call it before ``start_response``.
        """
        self._exchange.set_cookie(name, value, **options)

    def delete_cookie(self, name: str, **attributes: Unpack[CookieAttributes]) -> None:
        """Expire an application cookie; pass the Path and Domain it was set with."""
        self._exchange.delete_cookie(name, **attributes)


def get_handle(environ: WSGIEnvironment, key: str = DEFAULT_ENVIRON_KEY) -> SessionHandle:
    """The request's `SessionHandle`, from ``environ[key]``.

    Raises:
        satchel.ConfigurationError: the application is not wrapped in
            `SessionMiddleware` (or it uses another `environ_key`).

    """
    handle = environ.get(key)
    if not isinstance(handle, SessionHandle):
        raise ConfigurationError(
            f"environ_key: environ[{key!r}] holds no satchel session handle; wrap the "
            "application in satchel_wsgi.SessionMiddleware (with the same environ_key)"
        )
    return handle


def get_session(environ: WSGIEnvironment, key: str = DEFAULT_ENVIRON_KEY) -> Session:
    """The request's session: ``get_handle(environ, key).session``."""
    return get_handle(environ, key).session
