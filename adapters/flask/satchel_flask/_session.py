"""`FlaskSession`: what ``flask.session`` is once `Satchel` is installed.

Flask opens a session for every request, before it even matches the URL. The
object it gets here opens nothing: the satchel exchange is begun (no parsing,
no I/O) and the session is opened and loaded only when the view first reads
or writes it, so a request that never touches ``flask.session`` costs no
store operation and sets no cookie.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextvars import Token
from typing import TYPE_CHECKING, Any, Final, Unpack, overload

from flask import has_request_context, request
from flask.sessions import SessionMixin
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from satchel import (
    ConfigurationError,
    CookieAttributes,
    CookieOptions,
    EndedReason,
    Exchange,
    RequestContext,
    RequestContextSource,
    SatchelError,
    Session,
    SessionRuntime,
    State,
    StoreError,
    exit_request,
    session_timed_out,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment
    from flask.wrappers import Response
    from werkzeug.sansio.response import Response as SansIOResponse
    from werkzeug.wrappers import Request as WSGIRequest

    from ._extension import Satchel

__all__ = ["FLASHES_KEY", "FlaskSession", "SessionTimedOut", "SessionUnavailable"]

# The environ key the session is kept under (ENVIRON_KEY in _extension).
_ENVIRON_KEY: Final = "satchel_flask.session"

FLASHES_KEY: Final = "_flashes"
"""The key Flask's ``flash()`` and ``get_flashed_messages()`` use; `FlaskSession`
keeps its messages in satchel's flash rather than among the session's keys."""


class SessionTimedOut(HTTPException, SatchelError):
    """Raised when a view touches ``flask.session`` and the session the request
    presented ended by its idle or absolute timeout.

    An `HTTPException` (as ``abort(redirect(...))`` raises), so Flask turns it
    into the extension's timeout response (a 302 to ``timeout_location`` by
    default, or what ``on_timeout`` returns) without any handler of yours.
    A view that catches it anyway still gets the timeout response.

    Attributes:
        reason: ``"idle"`` or ``"absolute"``.

    """

    code = 302

    def __init__(self, session: FlaskSession, reason: EndedReason) -> None:
        super().__init__(f"the session ended by its {reason} timeout")
        self.reason: EndedReason = reason
        self._session = session

    @overload
    def get_response(
        self, environ: WSGIEnvironment | WSGIRequest | None = ..., scope: None = None
    ) -> Response: ...
    @overload
    def get_response(self, environ: None = None, scope: dict[str, Any] = ...) -> SansIOResponse: ...
    def get_response(
        self,
        environ: WSGIEnvironment | WSGIRequest | None = None,
        scope: dict[str, Any] | None = None,
    ) -> Response | SansIOResponse:
        """The timeout response (built in the request, so the hook may use the
        fresh session).
        """
        return self._session._timeout_response()


class SessionUnavailable(ServiceUnavailable, SatchelError):
    """Raised when a view touches ``flask.session`` and the store failed to load it.

    A werkzeug ``ServiceUnavailable`` (an `HTTPException`, code 503): Flask
    answers with the extension's store-error response (503 with
    ``Retry-After`` and ``Cache-Control: no-store`` by default, or what
    ``on_store_error`` returns), or with your ``@app.errorhandler(503)`` if
    you registered one (it is answered uncacheable, with ``Retry-After``). The failure is logged
    once on ``satchel.flask``; no session header is added to the answer.

    Attributes:
        error: the `satchel.StoreError` the store raised.

    """

    code = 503

    def __init__(self, session: FlaskSession, error: StoreError) -> None:
        super().__init__(f"the session store failed: {type(error).__name__}")
        self.error = error
        self._session = session

    @overload
    def get_response(
        self, environ: WSGIEnvironment | WSGIRequest | None = ..., scope: None = None
    ) -> Response: ...
    @overload
    def get_response(self, environ: None = None, scope: dict[str, Any] = ...) -> SansIOResponse: ...
    def get_response(
        self,
        environ: WSGIEnvironment | WSGIRequest | None = None,
        scope: dict[str, Any] | None = None,
    ) -> Response | SansIOResponse:
        """The store-error response."""
        return self._session._store_error_response()


class FlaskSession(SessionMixin, RequestContext):
    """``flask.session`` under `Satchel`: a `satchel.Session`, opened on first use.

    It is also the request's `satchel.RequestContext`, bound from the
    request's start until its response is finished (a streamed response's
    body included), so ``satchel.current_session()`` is `satchel` (the same
    session as ``flask.session``) from any function.

    Reading and writing it works as with Flask's own session (it is a
    ``MutableMapping``); `satchel` is the `satchel.Session` underneath, with
    ``flash``, ``flashed``, ``regenerate()`` and ``invalidate()``.

    Differences from Flask's cookie session, all deliberate:

    - ``permanent`` mirrors ``Settings.persistent``, which holds for every
      session of the application; setting it to the other value raises
      `satchel.ConfigurationError` rather than being ignored.
    - ``modified`` is informational: satchel notices every change, nested
      ones included, by comparing the stored bytes.
    - Flask's flashed messages (the ``"_flashes"`` key) live in satchel's
      flash: they are never among the keys, and stay until
      ``get_flashed_messages()`` reads them, as in Flask.

    Attributes:
        accessed: set by Flask whenever ``flask.session`` is looked up.
        modified: set when this request wrote to the session.

    """

    def __init__(self, exchange: Exchange, extension: Satchel) -> None:
        self._exchange = exchange
        self._extension = extension
        self._session: Session | None = None
        # Flask's flashed messages as this request sees them, once read or written.
        self._flashes: list[tuple[Any, ...]] | None = None
        self._store_error: StoreError | None = None
        self._timed_out: EndedReason | None = None
        # True while the timeout response is built: the hook gets the fresh session.
        self._timeout_answering = False
        self._timeout_answered = False
        self._store_error_answered = False
        self._failed = False
        self._saved = False
        # The binding of this request's context (see SatchelSessionInterface).
        self._token: Token[RequestContextSource] | None = None
        self.modified = False
        self.accessed = False

    @property
    def runtime(self) -> SessionRuntime:
        """The extension's runtime: its store, for listing and ending the
        sessions of an owner (`satchel.owner_sessions`).
        """
        return self._extension.runtime

    def __repr__(self) -> str:
        # Keys only: values may be secrets and never belong in logs.
        if self._session is None:
            return f"<FlaskSession (not opened) state={self._exchange.state.name}>"
        return f"<FlaskSession {self._session!r}>"

    # -- opening ----------------------------------------------------------------

    @property
    def satchel(self) -> Session:
        """The request's `satchel.Session`, opened (and loaded) on first use.

        Raises:
            SessionTimedOut: the session the request presented ended by a
                timeout (Flask answers with the timeout response).
            SessionUnavailable: the store failed while loading (Flask
                answers 503).
            satchel.ProtocolError: the session was saved already: the
                response has been built (for example inside a streamed body).

        """
        if self._store_error is not None:
            raise SessionUnavailable(self, self._store_error)
        if self._timed_out is not None and not self._timeout_answering:
            raise SessionTimedOut(self, self._timed_out)
        session = self._session
        if session is None:
            runtime = self._extension.runtime
            try:
                session = runtime.load(self._exchange)  # the Load, if the cookie names a session
            except StoreError as error:
                self._store_error = error
                runtime.log_store_error(error)
                raise SessionUnavailable(self, error) from error
            self._session = session
            if session_timed_out(session):
                self._timed_out = session.ended_reason
                raise SessionTimedOut(self, session.ended_reason)  # type: ignore[arg-type]
        return session

    @property
    def ended_reason(self) -> EndedReason | None:
        """Why the session the request presented had ended, once opened:
        ``"idle"``, ``"absolute"``, ``"invalid"`` or ``None``.
        """
        return None if self._session is None else self._session.ended_reason

    @property
    def store_error(self) -> StoreError | None:
        """The store failure this request met, if any."""
        return self._store_error

    # -- Flask's SessionMixin ---------------------------------------------------

    @property
    def new(self) -> bool:  # type: ignore[override]
        """True if this request started the session (nothing was stored yet)."""
        return self.satchel.is_new

    @property
    def permanent(self) -> bool:
        """Whether the session cookie outlives the browser session: always
        ``Settings.persistent`` (a setting for every session, not each one).
        """
        return self._extension.settings.persistent

    @permanent.setter
    def permanent(self, value: bool) -> None:
        if bool(value) != self._extension.settings.persistent:
            raise ConfigurationError(
                f"session.permanent = {bool(value)}: satchel_flask makes every session "
                f"permanent or none; Settings.persistent is {self._extension.settings.persistent}"
                " (see docs/adapters/flask.md, 'Permanent sessions')"
            )

    # -- the mapping ------------------------------------------------------------

    def _flash_list(self) -> list[tuple[Any, ...]]:
        session = self.satchel
        if self._flashes is None:
            incoming = session.flashed.get(FLASHES_KEY) or []
            self._flashes = [tuple(pair) for pair in incoming]
        return self._flashes

    def __getitem__(self, key: str) -> Any:
        if key == FLASHES_KEY:
            flashes = self._flash_list()
            if not flashes:
                raise KeyError(key)
            return flashes
        return self.satchel[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key == FLASHES_KEY:
            self._flash_list()
            self._flashes = [tuple(pair) for pair in value]
        else:
            self.satchel[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        if key == FLASHES_KEY:
            if not self._flash_list():
                raise KeyError(key)
            self._flashes = []
        else:
            del self.satchel[key]
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        return iter(self.satchel)

    def __len__(self) -> int:
        return len(self.satchel)

    def __contains__(self, key: object) -> bool:
        if key == FLASHES_KEY:
            return bool(self._flash_list())
        return key in self.satchel

    def get(self, key: str, default: Any = None) -> Any:
        """The value of `key`, or `default`."""
        if key == FLASHES_KEY:
            return self._flash_list() or default
        return self.satchel.get(key, default)

    def clear(self) -> None:
        """Remove every key, and Flask's flashed messages (as Flask's session does)."""
        self.satchel.clear()
        self._flashes = []
        self.modified = True

    # -- login and logout -------------------------------------------------------

    def regenerate(self) -> None:
        """Give the session a new ID, keeping its data (call it on login)."""
        self.satchel.regenerate()
        self.modified = True

    def invalidate(self) -> None:
        """End the session (call it on logout): data and flashed messages gone,
        record deleted, cookie expired. What is stored afterwards in this
        request (a "logged out" flash, say) starts a new session.
        """
        self.satchel.invalidate()
        self._flashes = []
        self.modified = True

    # -- application cookies -----------------------------------------------------

    @property
    def request_cookies(self) -> Mapping[str, str]:
        """Every cookie of the request, name → value as sent; does not open the session."""
        return self._exchange.request_cookies

    def set_cookie(self, name: str, value: str, **options: Unpack[CookieOptions]) -> None:
        """Add a validated ``Set-Cookie`` for an application cookie to the response."""
        self._exchange.set_cookie(name, value, **options)

    def delete_cookie(self, name: str, **attributes: Unpack[CookieAttributes]) -> None:
        """Expire an application cookie; pass the Path and Domain it was set with."""
        self._exchange.delete_cookie(name, **attributes)

    # -- the request's context: satchel.current_session() and the like ----------

    def satchel_request_context(self) -> FlaskSession | None:
        """Return this session while its Flask request is the current one, else ``None``.

        The binding ends when the response is finished, but a request
        context pushed by hand (``app.test_request_context()``, the test
        client's ``session_transaction``) never finishes one: what it leaves
        bound must never answer for anything but its own request.
        """
        current: object = request.environ.get(_ENVIRON_KEY) if has_request_context() else None
        return self if current is self else None

    def get_session(self) -> Session:
        """`satchel`, for ``satchel.current_session()``."""
        return self.satchel

    async def load_session(self) -> Session:
        """`satchel`, for ``satchel.load_current_session()``: the store is
        synchronous, so it is loaded right here.
        """
        return self.satchel

    def _unbind(self) -> None:
        """Unbind the request's context, once (later calls do nothing)."""
        token, self._token = self._token, None
        if token is None:
            return
        # ValueError: ended in another thread or task than the one that began
        # it. The binding there cannot be undone from here, and
        # `satchel_request_context` keeps it from answering for anything but
        # this request. (Not contextlib.suppress: every request would pay for
        # its with-statement.)
        try:  # noqa: SIM105
            exit_request(token)
        except ValueError:
            pass

    # -- the end of the request (called by the session interface) ----------------

    def _timeout_response(self) -> Response:
        self._timeout_answering = True
        self._timeout_answered = True
        return self._extension._timeout_response(self.satchel)

    def _store_error_response(self) -> Response:
        self._store_error_answered = True
        assert self._store_error is not None
        return self._extension._store_error_response(self._store_error)

    def _flush_flashes(self) -> None:
        """Hand Flask's unread flashed messages to the next request."""
        session = self._session
        if session is None or self._exchange.state is not State.OPEN:
            return
        flashes = self._flashes
        if flashes is None:
            flashes = [tuple(pair) for pair in session.flashed.get(FLASHES_KEY) or []]
        if flashes:
            session.flash(FLASHES_KEY, [list(pair) for pair in flashes])
