"""`Satchel`, the Flask extension, and the session interface it installs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Unpack, final

from flask import (
    Flask,
    current_app,
    got_request_exception,
    has_request_context,
    redirect,
    request,
)
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException

from satchel import (
    RETRY_AFTER,
    UNAVAILABLE_BODY,
    UNAVAILABLE_HEADERS,
    UNAVAILABLE_STATUS,
    AdapterOptions,
    ConfigurationError,
    CookieAttributes,
    CookieOptions,
    Session,
    SessionRuntime,
    Settings,
    Store,
    StoreError,
    SweepThread,
    enter_request,
    exit_request,
)

from ._session import _ENVIRON_KEY, FlaskSession

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue
    from flask.wrappers import Request, Response

__all__ = [
    "ENVIRON_KEY",
    "Satchel",
    "SatchelSessionInterface",
    "StoreErrorHook",
    "TimeoutHook",
    "delete_cookie",
    "get_session",
    "invalidate",
    "regenerate",
    "request_cookies",
    "set_cookie",
]

ENVIRON_KEY: Final = _ENVIRON_KEY
"""The WSGI environ key each request's `FlaskSession` is kept under (the
helpers find it there; ``flask.session`` is the same object)."""

logger = logging.getLogger("satchel.flask")

TimeoutHook = Callable[[Session], "ResponseReturnValue"]
"""``on_timeout(session) -> response``: answers a request whose session ended
by its idle or absolute timeout; `session` is the fresh session."""

StoreErrorHook = Callable[[StoreError], "ResponseReturnValue"]
"""``on_store_error(error) -> response``: answers a request whose store failed."""


@final
class Satchel:
    """The Flask extension: ``flask.session`` becomes a satchel session.

    Either ``Satchel(app, settings=...)`` or, with an application factory,
    ``ext = Satchel(settings=...)`` then ``ext.init_app(app)``. Installing it
    sets ``app.session_interface`` to this extension's
    `SatchelSessionInterface`, so Flask's ``SECRET_KEY`` and ``SESSION_*``
    settings no longer apply: the `satchel.Settings` do.

    Args:
        app: the application, or ``None`` to call `init_app` later.
        settings: the session settings.
        store: a synchronous store (`satchel.MemoryStore`,
            `satchel.SQLiteStore`, ``satchel_redis.RedisStore``,
            ``satchel_postgres.PostgresStore``) for server-side sessions, or
            ``None`` to keep the whole session sealed in the cookie.
        clock: the clock sessions run on, POSIX seconds.
        on_timeout: ``on_timeout(session)`` returns the response (anything a
            view may return, or an `HTTPException` it raises, such as
            ``abort(redirect(...))``) to a request whose session ended by its
            idle or absolute timeout; it runs in the request, and `session` (as
            ``flask.session``) is the fresh session, so it may ``flash()``.
            By default a 302 redirect to `timeout_location`. The session
            headers, which expire the ended session's cookie, are added to
            whatever it returns.
        timeout_location: where the default timeout response redirects.
        on_store_error: ``on_store_error(error)`` returns (or raises, as
            `on_timeout`) the response to a request whose store failed
            (loading or saving, or a save given up past
            ``conflict_deadline``); by default 503 with ``Retry-After``
            and ``Cache-Control: no-store``. No session header is added to it.
            The failure is logged on ``satchel.flask`` either way.
        sweep_interval: seconds between sweeps of expired records, for stores
            that have ``sweep(now)`` (memory, SQLite, PostgreSQL); ``None``
            turns the sweep off. The sweep runs on a daemon thread started by
            the first request; `close` stops it.

    Raises:
        satchel.ConfigurationError: an argument is invalid; the message names it.

    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        settings: Settings,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        on_timeout: TimeoutHook | None = None,
        timeout_location: str = "/",
        on_store_error: StoreErrorHook | None = None,
        sweep_interval: float | None = 60.0,
    ) -> None:
        options = AdapterOptions[Store](
            settings=settings,
            store=store,
            flavour="sync",
            framework="Flask",
            clock=clock,
            on_timeout=on_timeout,
            timeout_location=timeout_location,
            on_store_error=on_store_error,
            sweep_interval=sweep_interval,
        )
        self.runtime = SessionRuntime(options, logger)
        self.protocol = options.protocol
        self.store = options.store
        self.clock = clock
        self.timeout_location = options.timeout_location
        self.on_timeout = on_timeout
        self.on_store_error = on_store_error
        self.session_interface = SatchelSessionInterface(self)
        self._sweeper: SweepThread | None = None
        if self.runtime.sweep_interval is not None:
            self._sweeper = SweepThread(self.runtime, self.runtime.sweep_interval)
        if app is not None:
            self.init_app(app)

    def __repr__(self) -> str:
        return f"<Satchel {self.protocol!r} store={self.store!r}>"

    @property
    def settings(self) -> Settings:
        """The session settings."""
        return self.protocol.settings

    @property
    def sweeping(self) -> bool:
        """True while this process's sweep thread runs."""
        return self._sweeper is not None and self._sweeper.running

    def init_app(self, app: Flask) -> None:
        """Install the extension on `app` (several applications may share it).

        Sets ``app.session_interface`` and ``app.extensions["satchel"]``.

        Raises:
            satchel.ConfigurationError: `app` is not a Flask application.

        """
        if not isinstance(app, Flask):
            raise ConfigurationError(f"app: expected a Flask application, got {type(app).__name__}")
        app.session_interface = self.session_interface
        app.extensions["satchel"] = self
        # Nothing of a request that failed with an unhandled error is saved.
        got_request_exception.connect(_abandon_on_error, app, weak=False)

    def close(self) -> None:
        """Stop the sweep thread (if any) and wait for it; requests still work.

        Call it when the server shuts down. The store is not closed: it
        belongs to the caller.
        """
        if self._sweeper is not None:
            self._sweeper.stop()

    # -- the answers ----------------------------------------------------------

    def _timeout_response(self, session: Session) -> Response:
        if self.on_timeout is None:
            return current_app.make_response(redirect(self.timeout_location))
        return _answer(self.on_timeout, session)

    def _store_error_response(self, error: StoreError) -> Response:
        if self.on_store_error is None:
            return current_app.response_class(
                UNAVAILABLE_BODY, status=UNAVAILABLE_STATUS, headers=list(UNAVAILABLE_HEADERS)
            )
        return _answer(self.on_store_error, error)


def _answer(hook: Callable[[Any], ResponseReturnValue], argument: Any) -> Response:
    """What a hook returns, or the `HTTPException` it raises (``abort(...)``), as a response."""
    try:
        value = hook(argument)
    except HTTPException as raised:
        return current_app.make_response(raised.get_response())
    return current_app.make_response(value)


def _abandon_on_error(sender: Flask, exception: BaseException, **extra: Any) -> None:
    """Flask's ``got_request_exception``: the request ends in a 500."""
    session = request.environ.get(ENVIRON_KEY)
    if isinstance(session, FlaskSession):
        session._failed = True
        # With PROPAGATE_EXCEPTIONS (testing, debug) the error leaves Flask
        # before save_session, which would have ended the request's context.
        session._unbind()


@final
class SatchelSessionInterface(SessionInterface):
    """The Flask ``SessionInterface`` `Satchel` installs.

    `open_session` begins the request's exchange and returns a lazy
    `FlaskSession`; `save_session`, which Flask calls after the
    ``after_request`` functions and before the response starts, finishes it,
    runs its store operations and adds its ``Set-Cookie``, ``Cache-Control``
    and ``Vary`` headers to the response. A store failure replaces the
    response with the store-error answer; a request that failed with an
    unhandled error saves nothing.

    Args:
        extension: the `Satchel` extension it belongs to.

    """

    def __init__(self, extension: Satchel) -> None:
        self.extension = extension

    def open_session(self, app: Flask, request: Request) -> FlaskSession:
        """Begin the request's exchange (nothing parsed, no I/O)."""
        extension = self.extension
        if extension._sweeper is not None:
            extension._sweeper.ensure_running()
        # Werkzeug joins repeated Cookie headers with ", "; see docs/cookies.md.
        session = FlaskSession(
            extension.runtime.begin(request.environ.get("HTTP_COOKIE")), extension
        )
        request.environ[ENVIRON_KEY] = session
        # The request's context, for `satchel.current_session()` and the like,
        # until the response is finished (see save_session).
        session._token = enter_request(session)
        return session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Finish the exchange, run its store ops, add its headers to `response`.

        Raises:
            satchel.SessionTooLarge, satchel.UnstorableValue: the session
                cannot be stored (logged on ``satchel.flask``); Flask answers 500.

        """
        if not isinstance(session, FlaskSession) or session._saved:
            return
        session._saved = True
        # The request's context, bound by open_session, ends with the
        # response: here, or once a streamed body is done (it runs after
        # this), when the server closes the response. Not in a teardown
        # function: Flask's call of one costs more than the binding itself.
        if response.is_streamed:
            response.call_on_close(session._unbind)
            self._save(session, response)
            return
        # session._unbind() inlined: save_session and open_session run in
        # the same thread and context, inside Flask's wsgi_app.
        token, session._token = session._token, None
        try:
            self._save(session, response)
        finally:
            if token is not None:
                exit_request(token)

    def _save(self, session: FlaskSession, response: Response) -> None:
        exchange = session._exchange
        if session._failed:
            exchange.abandon()  # nothing of a failed request is saved
            return
        if session._store_error is not None:
            self._settle_store_error(session, response)
            return
        if session._timed_out is not None and not session._timeout_answered:
            # The view caught SessionTimedOut: the timeout response stands anyway.
            _replace(response, session._timeout_response())
        session._flush_flashes()
        runtime = self.extension.runtime
        try:
            outcome = runtime.save(exchange)
        except StoreError as error:
            session._store_error = error
            runtime.log_store_error(error)
            _replace(response, session._store_error_response())
            return
        headers = response.headers
        for name, value in outcome.headers:
            headers.add(name, value)

    def _settle_store_error(self, session: FlaskSession, response: Response) -> None:
        """The request met a store failure while loading: make sure it is answered so."""
        session._exchange.abandon()
        if session._store_error_answered:
            return
        if response.status_code == UNAVAILABLE_STATUS:
            # The application's own errorhandler(503) answered: keep it, uncacheable.
            response.headers["Cache-Control"] = "no-store"
            response.headers.setdefault("Retry-After", RETRY_AFTER)
            return
        # The view caught SessionUnavailable and answered something else.
        _replace(response, session._store_error_response())


def _replace(response: Response, replacement: Response) -> None:
    """Make `response` (the object Flask will send) answer as `replacement`."""
    old = response.response
    close = getattr(old, "close", None)
    if callable(close):
        # A streamed body closes when the server is done with the response,
        # as it would have: closing it here would pop its request context early.
        response.call_on_close(close)
    response.status = replacement.status
    response.headers = Headers(replacement.headers)
    response.response = replacement.response
    response.direct_passthrough = replacement.direct_passthrough


# -- helpers for views ------------------------------------------------------------


def _current() -> FlaskSession:
    if not has_request_context():
        raise RuntimeError("satchel_flask: working outside of a request")
    session = request.environ.get(ENVIRON_KEY)
    if not isinstance(session, FlaskSession):
        raise ConfigurationError(
            "app: this application has no satchel session; install satchel_flask.Satchel on it"
        )
    return session


def get_session() -> Session:
    """The request's `satchel.Session` (``flask.session.satchel``), opened on first use.

    Raises:
        satchel_flask.SessionTimedOut: the session ended by a timeout.
        satchel_flask.SessionUnavailable: the store failed.
        satchel.ConfigurationError: `Satchel` is not installed on the app.

    """
    return _current().satchel


def regenerate() -> None:
    """Give the session a new ID, keeping its data: call it on login."""
    _current().regenerate()


def invalidate() -> None:
    """End the session (data gone, record deleted, cookie expired): call it on logout."""
    _current().invalidate()


def request_cookies() -> Mapping[str, str]:
    """Every cookie of the request, name → value as the browser sent it (the
    first of repeated names wins); reading them does not open the session.
    """
    return _current().request_cookies


def set_cookie(name: str, value: str, **options: Unpack[CookieOptions]) -> None:
    """Add a ``Set-Cookie`` for an application cookie to this request's response.

    Validated now and rendered by satchel's cookie code: a name, value or
    attribute that could inject into the header raises `satchel.CookieError`.
    The session cookie's name is refused.
    """
    _current().set_cookie(name, value, **options)


def delete_cookie(name: str, **attributes: Unpack[CookieAttributes]) -> None:
    """Expire an application cookie; pass the Path and Domain it was set with."""
    _current().delete_cookie(name, **attributes)
