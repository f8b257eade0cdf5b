"""`SessionMiddleware`: satchel sessions for any ASGI application.

Per HTTP or websocket connection the middleware begins an exchange (no I/O),
puts its state in the scope, and wraps ``send``. The exchange is finished
exactly once, when the application's response starts (``http.response.start``
or ``websocket.accept``), so the session headers are added before anything
leaves. A timeout or a store failure replaces the application's response
with the middleware's own, and the application's later messages are dropped.
Lifespan events start and stop the sweep and close the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final, final

from satchel import (
    APPLICATION_ERRORS,
    UNAVAILABLE_BODY,
    UNAVAILABLE_HEADERS,
    UNAVAILABLE_STATUS,
    AdapterOptions,
    AsyncSessionRuntime,
    AsyncStore,
    ConfigurationError,
    Settings,
    StoreError,
    SweepTask,
    enter_request,
    exit_request,
)

from ._access import LOGGER, SCOPE_KEY, RequestState, SessionTimedOut
from ._types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SWEEP_TASK_NAME", "SessionMiddleware"]

SWEEP_TASK_NAME: Final = "satchel-asgi-sweep"
"""The name of the asyncio task that runs the sweep."""

_TIMEOUT_BODY = b"Your session has timed out.\n"
_ERROR_BODY = b"Internal server error.\n"
_TEXT = b"text/plain; charset=utf-8"
_STARTS = frozenset({"http.response.start", "websocket.accept", "websocket.http.response.start"})
_DENIAL = "websocket.http.response"

# Who may send the response: the application, the timeout response, or the
# middleware's own answer (then both others are dropped).
_APP, _TIMEOUT, _MIDDLEWARE = "app", "timeout", "middleware"

# What a finished request's state holds instead of its scope.
_DONE_SCOPE: Final[dict[str, Any]] = {}


def _raw(headers: Any) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


async def _plain_response(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]], *, websocket: bool
) -> None:
    """Send a complete plain response (a websocket handshake denial for websockets)."""
    prefix = "websocket.http.response" if websocket else "http.response"
    await send(
        {
            "type": f"{prefix}.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode("latin-1"))],
        }
    )
    await send({"type": f"{prefix}.body", "body": body, "more_body": False})


def _accepts_denial(scope: Scope) -> bool:
    extensions = scope.get("extensions")
    return isinstance(extensions, dict) and _DENIAL in extensions


async def _service_unavailable(scope: Scope, receive: Receive, send: Send) -> None:
    """The default store-error response: 503, plain text, ``Retry-After``,
    ``Cache-Control: no-store``, no session header.
    """
    websocket = scope.get("type") == "websocket"
    if websocket and not _accepts_denial(scope):
        # The server cannot send a denial response: refuse the handshake
        # (servers answer 403); 1011 is "the server met an unexpected condition".
        await send({"type": "websocket.close", "code": 1011})
        return
    await _plain_response(
        send, UNAVAILABLE_STATUS, UNAVAILABLE_BODY, _raw(UNAVAILABLE_HEADERS), websocket=websocket
    )


@final
class SessionMiddleware:
    """ASGI middleware that gives every HTTP and websocket request a lazily
    loaded session.

    Wrap any ASGI 3 application: a Starlette, FastAPI or Litestar app, or a
    plain ASGI callable. The session is reached with `load_session`, then
    `get_session` or ``request.state.session``. The middleware imports no
    framework.

    Args:
        app: the ASGI application to wrap.
        settings: the session settings.
        store: a store for server-side sessions, asynchronous
            (`satchel.AsyncMemoryStore`, a driver's async flavour) or
            synchronous (`satchel.SQLiteStore`, ...: its calls then run on
            worker threads, through `satchel.ThreadedStore`); ``None`` keeps
            the whole session sealed in the cookie.
        clock: the clock sessions run on, POSIX seconds.
        on_timeout: an ASGI application that answers a request whose session
            ended by its idle or absolute timeout, instead of `app`; by
            default a 302 redirect to `timeout_location`. It may await
            `load_session` for the fresh session, and the session headers
            (which expire the ended session's cookie) are added to its
            response. Any framework's response object that is an ASGI
            application will do.
        timeout_location: where the default timeout response redirects.
        on_store_error: an ASGI application that answers a request whose
            store operations failed; by default 503 with ``Retry-After`` and
            ``Cache-Control: no-store``. No session header is added to it; the
            failure is logged either way. Websocket handshakes get the default
            answer.
        sweep_interval: seconds between sweeps of expired records, for stores
            that have ``sweep(now)`` (memory, SQLite, PostgreSQL); ``None``
            turns the sweep off. The sweep runs from the ASGI lifespan.
        close_store: close the store when the lifespan shuts down (its
            ``close()`` or ``aclose()``). Pass ``False`` when the store is
            shared with something that outlives this application.

    Raises:
        satchel.ConfigurationError: an argument is invalid; the message names it.

    """

    __slots__ = (
        "_sweep_task",
        "app",
        "close_store",
        "on_store_error",
        "on_timeout",
        "options",
        "runtime",
        "timeout_location",
    )

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        *,
        store: Any = None,
        clock: Callable[[], float] = time.time,
        on_timeout: ASGIApp | None = None,
        timeout_location: str = "/",
        on_store_error: ASGIApp | None = None,
        sweep_interval: float | None = 60.0,
        close_store: bool = True,
    ) -> None:
        if not callable(app):
            raise ConfigurationError(f"app: must be callable, got {type(app).__name__}")
        # Every adapter takes the same options; the core checks them and
        # wraps a synchronous store so that it runs on worker threads.
        self.options = AdapterOptions[AsyncStore](
            settings=settings,
            store=store,
            flavour="any",
            framework="ASGI",
            clock=clock,
            on_timeout=on_timeout,
            timeout_location=timeout_location,
            on_store_error=on_store_error,
            sweep_interval=sweep_interval,
        )
        if not isinstance(close_store, bool):
            raise ConfigurationError(f"close_store: must be a bool, got {close_store!r}")
        self.app = app
        self.runtime = AsyncSessionRuntime(self.options, LOGGER)
        self.timeout_location = self.options.timeout_location
        self.on_timeout: ASGIApp = on_timeout or self._redirect
        self.on_store_error: ASGIApp = on_store_error or _service_unavailable
        self.close_store = close_store
        self._sweep_task: SweepTask | None = None

    def __repr__(self) -> str:
        return f"<SessionMiddleware {self.options!r} store={self.store!r}>"

    @property
    def settings(self) -> Settings:
        """The session settings."""
        return self.options.settings

    @property
    def store(self) -> AsyncStore | None:
        """The store the sessions are kept in (a synchronous one wrapped in a
        `satchel.ThreadedStore`), or ``None`` for cookie storage.
        """
        return self.runtime.store

    @property
    def sweeping(self) -> bool:
        """True while the sweep task runs."""
        task = self._sweep_task
        return task is not None and task.running

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection (the ASGI application interface)."""
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if kind not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        # Every Cookie header as sent (HTTP/2 may split them), unparsed:
        # nothing is parsed until someone reads a cookie or the session.
        cookies = [value.decode("latin-1") for name, value in scope["headers"] if name == b"cookie"]
        state = RequestState(
            self.runtime, self.runtime.begin(cookies), scope, websocket=kind == "websocket"
        )
        scope[SCOPE_KEY] = state
        # The request's context, for `satchel.current_session()` and the like.
        token = enter_request(state)
        try:
            await _Call(self, scope, receive, send, state).run()
        finally:
            exit_request(token)
            # The scope holds the state and the state its scope: let go of
            # the scope, so the request's objects are freed at once rather
            # than left to the garbage collector (which then also walks
            # every other young object of the server).
            state.scope = _DONE_SCOPE

    async def _redirect(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The default timeout response: 302 to `timeout_location`."""
        headers = [(b"location", self.timeout_location.encode("latin-1")), (b"content-type", _TEXT)]
        await _plain_response(send, 302, _TIMEOUT_BODY, headers, websocket=False)

    # -- lifespan: the sweep and the store's end ---------------------------------------

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = False

        async def lifespan_receive() -> Message:
            nonlocal received
            message = await receive()
            received = True
            return message

        async def lifespan_send(message: Message) -> None:
            kind = message.get("type")
            if kind == "lifespan.startup.complete":
                self.start_sweep()
            elif kind == "lifespan.startup.failed":
                await self.stop_sweep()
            elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self.shutdown()
            await send(message)

        try:
            await self.app(scope, lifespan_receive, lifespan_send)
        except Exception:
            if received:
                await self.stop_sweep()
                raise
            # The application does not speak lifespan (it raised before
            # reading the first event): the middleware answers for it.
        else:
            if received:
                return
        await self._own_lifespan(receive, send)

    async def _own_lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            kind = message.get("type")
            if kind == "lifespan.startup":
                self.start_sweep()
                await send({"type": "lifespan.startup.complete"})
            elif kind == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start_sweep(self) -> None:
        """Start the sweep task on the running loop, unless it runs already
        or the store needs none (the lifespan's start-up calls this).
        """
        interval = self.runtime.sweep_interval
        if interval is None or self.sweeping:
            return
        self._sweep_task = SweepTask(self.runtime, interval, name=SWEEP_TASK_NAME)
        self._sweep_task.start()

    async def stop_sweep(self) -> None:
        """Cancel the sweep task and wait for it to end."""
        task, self._sweep_task = self._sweep_task, None
        if task is not None:
            await task.stop()

    async def shutdown(self) -> None:
        """Stop the sweep and, with ``close_store``, close the store (the
        lifespan's shut-down calls this). A store that fails to close is
        logged; the shut-down carries on.
        """
        await self.stop_sweep()
        if self.close_store:
            await self.runtime.close_store()  # a failure is logged


@final
class _Call:
    """One HTTP request or websocket handshake in flight."""

    __slots__ = ("middleware", "owner", "receive", "scope", "send", "started", "state")

    def __init__(
        self,
        middleware: SessionMiddleware,
        scope: Scope,
        receive: Receive,
        send: Send,
        state: RequestState,
    ) -> None:
        self.middleware = middleware
        self.scope = scope
        self.receive = receive
        self.send = send
        self.state = state
        self.owner = _APP
        # True once any response (or accept) has gone to the server.
        self.started = False

    async def run(self) -> None:
        state = self.state
        try:
            await self.middleware.app(self.scope, self.receive, self.app_send)
        except Exception as error:
            if self.owner != _APP:
                # The middleware answered instead (a framework may re-raise
                # what it turned into a 500): what it answered was expected.
                if isinstance(error, SessionTimedOut) or error is state.store_error:
                    return
                raise
            if not self.started:
                if isinstance(error, SessionTimedOut) and state.timed_out is not None:
                    await self.answer_timeout()
                    return
                if isinstance(error, StoreError):
                    state.store_failed(error)
                    await self.answer_store_error()
                    return
            self.abandon()  # an unhandled error: nothing this request did is saved
            raise
        except BaseException:
            self.abandon()
            raise
        if self.owner == _APP and not self.started and self.answer_due():
            # The application ended without answering after a timeout or failure.
            await self.answer_instead()
        self.abandon()  # no response at all: nothing to save

    def abandon(self) -> None:
        if not self.state.done:
            self.state.done = True
            self.state.exchange.abandon()

    # -- the application's send ----------------------------------------------------

    async def app_send(self, message: Message) -> None:
        """The ``send`` the application is given."""
        if self.owner != _APP:
            return  # the middleware answered instead; the application's output is dropped
        if message["type"] in _STARTS and not self.started:
            if self.answer_due():
                await self.answer_instead()
                return
            if message["type"] == "http.response.start" and message.get("status", 200) >= 500:
                # A server error (a framework's answer to an unhandled
                # exception, most often): like a failed transaction, nothing
                # this request did to the session is saved.
                self.abandon()
            else:
                finished = await self.with_session_headers(message)
                if finished is None:
                    return  # replaced by the middleware's own answer
                message = finished
            self.started = True
        elif message["type"] == "websocket.close" and not self.started:
            self.abandon()  # a refused handshake carries no headers
        await self.send(message)

    def answer_due(self) -> bool:
        state = self.state
        return state.store_error is not None or (
            state.timed_out is not None and not state.timeout_answered
        )

    async def answer_instead(self) -> None:
        if self.state.store_error is not None:
            await self.answer_store_error()
        else:
            await self.answer_timeout()

    async def with_session_headers(self, message: Message) -> Message | None:
        """Finish the exchange, run its ops, and return `message` with the
        session headers added; ``None`` if the middleware answered instead.
        """
        state = self.state
        if state.done:
            return message
        state.done = True
        try:
            # Saves of one session take turns; a save that cannot complete
            # in time raises SessionConflict, a StoreError: answered 503.
            outcome = await state.runtime.save(state.exchange)
        except StoreError as error:
            state.store_failed(error)
            await self.answer_store_error()
            return None
        except APPLICATION_ERRORS:
            # What the application put in its session cannot be kept
            # (logged by the runtime): its bug, answered 500.
            self.owner = _MIDDLEWARE
            self.started = True
            if state.websocket and not _accepts_denial(self.scope):
                await self.send({"type": "websocket.close", "code": 1011})
            else:
                await _plain_response(
                    self.send,
                    500,
                    _ERROR_BODY,
                    [(b"content-type", _TEXT), (b"cache-control", b"no-store")],
                    websocket=state.websocket,
                )
            return None
        # Added, never replacing the application's (there may be several Set-Cookie).
        return {**message, "headers": [*message.get("headers", ()), *_raw(outcome.headers)]}

    # -- the middleware's own answers ------------------------------------------------

    async def answer_store_error(self) -> None:
        self.owner = _MIDDLEWARE
        self.abandon()
        if self.started:
            return  # too late for another response; the server ends the connection
        self.started = True
        hook = self.middleware.on_store_error
        if self.state.websocket:
            hook = _service_unavailable
        await hook(self.scope, self.receive, self.send)

    async def answer_timeout(self) -> None:
        """Run the timeout response with the fresh session: its response
        carries the header that expires the ended session's cookie, so the
        redirect does not loop.
        """
        self.owner = _TIMEOUT
        self.state.timeout_answered = True

        async def timeout_send(message: Message) -> None:
            if self.owner != _TIMEOUT:
                return
            if message["type"] in _STARTS and not self.started:
                finished = await self.with_session_headers(message)
                if finished is None:
                    return
                message = finished
                self.started = True
            await self.send(message)

        await self.middleware.on_timeout(self.scope, self.receive, timeout_send)
