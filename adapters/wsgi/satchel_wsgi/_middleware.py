"""`SessionMiddleware`: satchel sessions for any WSGI application.

Per request the middleware begins an exchange, puts a `SessionHandle` in the
environ, and wraps ``start_response``: when the application starts its
response, the exchange is finished and its store operations run, so the
session headers are added before anything is sent (PEP 3333 servers send
headers only with the first body chunk). A timeout or a store failure
replaces the application's response with the middleware's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, final

from satchel import (
    APPLICATION_ERRORS,
    UNAVAILABLE_BODY,
    UNAVAILABLE_HEADERS,
    AdapterOptions,
    ConfigurationError,
    SessionRuntime,
    Settings,
    Store,
    StoreError,
    SweepThread,
    enter_request,
    exit_request,
)

from ._handle import DEFAULT_ENVIRON_KEY, SessionHandle, logger

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from _typeshed import OptExcInfo

__all__ = ["SessionMiddleware"]

_Headers = tuple[tuple[str, str], ...]
_Write = Callable[[bytes], object]

_TEXT = "text/plain; charset=utf-8"
# Bodies that run no application code while they are iterated.
_PLAIN_BODIES = (list, tuple)
_TIMEOUT_BODY = b"Your session has timed out.\n"


def _discard(data: bytes) -> None:
    """The ``write`` handed to an application whose response was replaced."""


def _service_unavailable(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """The default store-error response: 503 with ``Retry-After``, plain text,
    no session headers.
    """
    start_response(
        "503 Service Unavailable",
        [*UNAVAILABLE_HEADERS, ("Content-Length", str(len(UNAVAILABLE_BODY)))],
    )
    return [UNAVAILABLE_BODY]


@final
class SessionMiddleware:
    """WSGI middleware that gives every request a lazily opened session.

    Wrap any WSGI application (plain, Flask's ``app.wsgi_app``, Bottle, ...);
    the session is in ``environ["satchel.handle"].session`` (or `get_session`).
    The arguments are kept in attributes of the same names (the settings and
    the storage kind in `protocol`, the `SessionProtocol` built once here).

    Args:
        app: the WSGI application to wrap.
        settings: the session settings.
        store: a synchronous store (`satchel.MemoryStore`,
            `satchel.SQLiteStore`, a driver's sync flavour) for server-side
            sessions, or ``None`` to keep the whole session sealed in the
            cookie.
        clock: the clock sessions run on, POSIX seconds.
        on_timeout: a WSGI application that answers a request whose session
            ended by its idle or absolute timeout, instead of the wrapped
            application; by default a 302 redirect to `timeout_location`.
            The session headers (which expire the ended session's cookie) are
            added to whatever it answers.
        timeout_location: where the default timeout response redirects.
        on_store_error: a WSGI application that answers a request whose store
            operations failed; by default 503 with a short plain-text body.
            No session header is added to it. The failure is logged either way.
        sweep_interval: seconds between sweeps of expired records, for stores
            that have ``sweep(now)`` (memory, SQLite, PostgreSQL); ``None``
            turns the sweep off. The sweep runs on a daemon thread started by
            the first request; `close` stops it.
        environ_key: the environ key each request's `SessionHandle` is put under.

    Raises:
        satchel.ConfigurationError: an argument is invalid; the message names it.

    """

    def __init__(
        self,
        app: WSGIApplication,
        settings: Settings,
        *,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        on_timeout: WSGIApplication | None = None,
        timeout_location: str = "/",
        on_store_error: WSGIApplication | None = None,
        sweep_interval: float | None = 60.0,
        environ_key: str = DEFAULT_ENVIRON_KEY,
    ) -> None:
        if not callable(app):
            # The other hooks are checked by AdapterOptions; the app is WSGI's own.
            raise ConfigurationError(f"app: must be callable, got {type(app).__name__}")
        # Every adapter takes the same options; the core checks them and
        # builds the one protocol this middleware runs for its lifetime.
        options = AdapterOptions[Store](
            settings=settings,
            store=store,
            flavour="sync",
            framework="WSGI",
            clock=clock,
            on_timeout=on_timeout,
            timeout_location=timeout_location,
            on_store_error=on_store_error,
            sweep_interval=sweep_interval,
        )
        if not isinstance(environ_key, str) or not environ_key:
            raise ConfigurationError(f"environ_key: must be a non-empty str, got {environ_key!r}")
        self.app = app
        self.runtime = SessionRuntime(options, logger)
        self.store = options.store
        self.protocol = options.protocol
        self.clock = clock
        self.timeout_location = options.timeout_location
        self.on_timeout: WSGIApplication = on_timeout or self._redirect
        self.on_store_error: WSGIApplication = on_store_error or _service_unavailable
        self.environ_key = environ_key
        self._sweeper: SweepThread | None = None
        if self.runtime.sweep_interval is not None:
            self._sweeper = SweepThread(self.runtime, self.runtime.sweep_interval)

    def __repr__(self) -> str:
        return f"<SessionMiddleware {self.protocol!r} store={self.store!r}>"

    @property
    def settings(self) -> Settings:
        """The session settings."""
        return self.protocol.settings

    @property
    def sweeping(self) -> bool:
        """True while this process's sweep thread runs."""
        return self._sweeper is not None and self._sweeper.running

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request (the WSGI application interface)."""
        if self._sweeper is not None:
            self._sweeper.ensure_running()
        # The Cookie header as the server gave it, unsplit; nothing is parsed
        # until someone reads a cookie or the session. A comma may be part of
        # a cookie value ("d=e,f"), so it is never taken as a separator. The
        # cost: a client that sends several Cookie lines, which browsers never
        # do, gets them joined with "," (wsgiref, gunicorn) or ", " (waitress)
        # into the value of the pair before the join (docs/cookies.md).
        header = environ.get("HTTP_COOKIE")
        exchange = self.runtime.begin(header)
        call = _Call(self, environ, start_response, SessionHandle(exchange, self.runtime))
        environ[self.environ_key] = call.handle
        # The request's context, for `satchel.current_session()` and the like;
        # bound again while the server iterates a lazy body (see _Body).
        token = enter_request(call.handle)
        try:
            try:
                body = self.app(environ, call.start_response)
            except Exception:
                replacement = call.replacement_body()
                if replacement is None:
                    raise
                return _Body(call, replacement)
            return _Body(call, body)
        finally:
            exit_request(token)

    def close(self) -> None:
        """Stop the sweep thread (if any) and wait for it; requests still work.

        Call it when the server shuts down. The store is not closed: it
        belongs to the caller.
        """
        if self._sweeper is not None:
            self._sweeper.stop()

    def _redirect(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        """The default timeout response: 302 to `timeout_location`."""
        start_response(
            "302 Found",
            [
                ("Location", self.timeout_location),
                ("Content-Type", _TEXT),
                ("Content-Length", str(len(_TIMEOUT_BODY))),
            ],
        )
        return [_TIMEOUT_BODY]


@final
class _Call:
    """One request in flight: the handle, the real ``start_response``, and
    the response that replaced the application's, if any.
    """

    __slots__ = (
        "_session_headers",
        "_start_response",
        "environ",
        "handle",
        "middleware",
        "replacement",
    )

    def __init__(
        self,
        middleware: SessionMiddleware,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        handle: SessionHandle,
    ) -> None:
        self.middleware = middleware
        self.environ = environ
        self._start_response = start_response
        self.handle = handle
        # Set once the exchange has finished: the headers every later
        # start_response call (an error page with exc_info) must carry too.
        self._session_headers: _Headers | None = None
        self.replacement: Iterable[bytes] | None = None

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None, /
    ) -> _Write:
        """The ``start_response`` the application is given."""
        if self.replacement_body() is not None:
            return _discard  # the middleware answers instead; the application's output is dropped
        return self._start_with_session(status, headers, exc_info)

    def _start_with_session(
        self, status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None, /
    ) -> _Write:
        """Finish the exchange (the first time), then start the response with
        the session headers added: every call, since an application may start
        an error page with `exc_info` after its first try.
        """
        if self._session_headers is None:
            try:
                self._session_headers = self._finish()
            except StoreError as error:
                self.handle._store_failed(error)
                self._answer_store_error()
                return _discard
            except APPLICATION_ERRORS:
                # SessionTooLarge, UnstorableValue: the application's fault
                # (logged by the runtime). Raised on, so the application or
                # the server answers 500; later calls carry no session headers.
                self._session_headers = ()
                raise
        return self._start_response(status, [*headers, *self._session_headers], exc_info)

    def _finish(self) -> _Headers:
        """Finish the exchange exactly once and run its Save/Delete ops.

        The runtime saves one session's requests in turn and gives up with
        `satchel.SessionConflict` (a `StoreError`) past the conflict deadline.
        """
        return self.middleware.runtime.save(self.handle._exchange).headers

    def replacement_body(self) -> Iterable[bytes] | None:
        """The body that answers instead of the application's, if the request
        met a timeout or a store failure; the first call starts that response.
        """
        handle = self.handle
        if self.replacement is not None:
            return self.replacement
        if handle._store_error is not None:
            return self._answer_store_error()
        if handle._timed_out is None or handle._timeout_answered:
            return None
        # The hook may use the fresh session (to flash a message, say); the
        # exchange finishes when it starts its response, which so carries the
        # header that expires the ended session's cookie: no redirect loop.
        handle._timeout_answered = True
        token = enter_request(handle)  # the hook may use the session, from any thread
        try:
            body = self.middleware.on_timeout(self.environ, self._start_with_session)
        finally:
            exit_request(token)
        return self._settle(body)

    def _settle(self, body: Iterable[bytes]) -> Iterable[bytes]:
        """Make the timeout response's `body` the replacement, unless the store
        failed as that response started: then the store-error answer stands.
        """
        if self.replacement is not None:
            _close_all([body])
            return self.replacement
        self.replacement = body
        return body

    def _answer_store_error(self) -> Iterable[bytes]:
        self._session_headers = ()
        self.replacement = self.middleware.on_store_error(self.environ, self._start_response)
        return self.replacement


@final
class _Body:
    """The iterable the server gets: the application's body, or the
    replacement response when the request met a timeout or a store failure
    (which a generator application may only reveal once it is iterated).

    A lazy body (a generator application's) runs the application's code
    while the server iterates it, so the request's context is bound around
    each step and around `close`; a list or tuple runs no code.
    """

    __slots__ = ("_call", "_closables", "_iterable", "_iterator", "_lazy")

    def __init__(self, call: _Call, iterable: Iterable[bytes]) -> None:
        self._call = call
        self._iterable = iterable
        self._iterator: Iterator[bytes] | None = None
        self._closables: list[Iterable[bytes]] = [iterable]
        self._lazy = type(iterable) not in _PLAIN_BODIES

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if not self._lazy:
            return self._next()
        token = enter_request(self._call.handle)
        try:
            return self._next()
        finally:
            exit_request(token)

    def _next(self) -> bytes:
        call = self._call
        while True:
            if self._replaced():
                # Replaced while the application ran: what it yields is dropped.
                assert call.replacement is not None
                self._iterable, self._iterator = call.replacement, None
                self._closables.append(call.replacement)
                if not self._lazy:
                    self._lazy = True
                    return self.__next__()  # the replacement runs code: bind the context
            try:
                if self._iterator is None:
                    self._iterator = iter(self._iterable)
                chunk = next(self._iterator)
            except Exception:  # StopIteration too: an application may end without answering
                if self._replaced():
                    continue  # the failure belongs to a response already replaced
                if self._iterable is call.replacement or call.replacement_body() is None:
                    raise
                continue
            if not self._replaced():
                return chunk

    def _replaced(self) -> bool:
        """True if a replacement response took over from the body being served."""
        replacement = self._call.replacement
        return replacement is not None and replacement is not self._iterable

    def close(self) -> None:
        """Close every iterable this response used (PEP 3333)."""
        if not self._lazy:
            _close_all(self._closables)
            return
        token = enter_request(self._call.handle)
        try:
            _close_all(self._closables)
        finally:
            exit_request(token)


def _close_all(iterables: list[Iterable[bytes]]) -> None:
    """Call ``close()`` on each iterable that has one; if any fails, the rest
    are still closed and the first failure is raised.
    """
    failure: BaseException | None = None
    for iterable in iterables:
        close: Any = getattr(iterable, "close", None)
        if close is None:
            continue
        try:
            close()
        except BaseException as error:
            failure = failure or error
    if failure is not None:
        raise failure
