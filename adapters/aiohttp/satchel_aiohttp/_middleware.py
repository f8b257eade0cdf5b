"""The per-request part: the middleware, the prepare hook and the accessors.

Per request the middleware begins an exchange (no I/O) and parks it on the
request. `get_session` opens it and runs the `Load`, if any, the first time
the handler asks. The exchange is finished exactly once, before the headers
are sent:

- by the middleware, for a response the handler returns or an HTTP exception
  it raises, while a store failure can still turn the answer into a 503;
- by the ``on_response_prepare`` signal, for a response the handler prepares
  itself (a `StreamResponse` or a `WebSocketResponse`), because its headers
  leave as soon as ``prepare()`` returns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias, Unpack, cast, final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from satchel import (
    APPLICATION_ERRORS,
    UNAVAILABLE_BODY,
    UNAVAILABLE_HEADERS,
    UNAVAILABLE_STATUS,
    AsyncSessionRuntime,
    CookieAttributes,
    CookieOptions,
    Exchange,
    ExchangeContext,
    ProtocolError,
    Session,
    State,
    StoreError,
    enter_request,
    exit_request,
    session_timed_out,
)

__all__ = [
    "LOGGER",
    "Adapter",
    "StoreErrorHook",
    "TimeoutHook",
    "delete_cookie",
    "get_session",
    "make_middleware",
    "on_response_prepare",
    "request_cookies",
    "set_cookie",
]

LOGGER = logging.getLogger("satchel.aiohttp")

TimeoutHook: TypeAlias = Callable[[web.Request, Session], Awaitable[None]]
"""``async def on_timeout(request, session) -> None``: called by `get_session`
when the session the request presented ended by idle or absolute timeout
(``session.ended_reason``). Raise an aiohttp HTTP exception (such as
``HTTPFound``) to answer with it; return to let the handler carry on with the
new, empty `session`."""

StoreErrorHook: TypeAlias = Callable[[web.Request, StoreError], Awaitable[web.StreamResponse]]
"""``async def on_store_error(request, error) -> StreamResponse``: the response
to send when the session store failed. The error is already logged; no
session header is added to what the hook returns."""


@final
class Adapter:
    """What `setup` configured, shared by every request of one application."""

    __slots__ = ("on_store_error", "on_timeout", "runtime")

    def __init__(
        self,
        *,
        runtime: AsyncSessionRuntime,
        on_timeout: TimeoutHook,
        on_store_error: StoreErrorHook | None,
    ) -> None:
        self.runtime = runtime
        self.on_timeout = on_timeout
        self.on_store_error = on_store_error


@final
class _RequestState(ExchangeContext):
    """One request's exchange and what the adapter knows about it; the
    request's `satchel.RequestContext` while it is served.
    """

    __slots__ = ("adapter", "done", "exchange", "lock", "logged", "request")

    def __init__(self, adapter: Adapter, exchange: Exchange, request: web.Request) -> None:
        self.adapter = adapter
        self.exchange = exchange
        # The request holds this state and this state its request: dropped
        # when the request ends, so neither waits for the garbage collector.
        self.request: web.Request | None = request
        # True once the exchange is finished, or abandoned after an
        # unhandled error: nothing of this request is finished again.
        self.done = False
        # Made only when a handler asks for a server-side session, and only
        # needed if it asks from several tasks at once.
        self.lock: asyncio.Lock | None = None
        self.logged: StoreError | None = None

    @property
    def runtime(self) -> AsyncSessionRuntime:
        """The adapter's runtime: its store, for listing and ending the
        sessions of an owner (`satchel.load_owner_sessions`).
        """
        return self.adapter.runtime

    def log_store_error(self, error: StoreError) -> None:
        """Log a store failure once, however many layers it passes through."""
        if self.logged is error:
            return
        self.logged = error
        self.adapter.runtime.log_store_error(error)

    def get_session(self) -> Session:
        """The session once `load_session` (or `get_session`) has loaded it."""
        if self.done:
            raise ProtocolError(
                "the session was asked for after the response was prepared: its headers "
                "are sent, so the session can no longer change"
            )
        if self.exchange.state is not State.OPEN:
            raise ProtocolError(
                "the session of this request is not loaded yet, and loading it awaits the "
                "store: use `await satchel.load_current_session()`"
            )
        return self.exchange.session

    async def load_session(self) -> Session:
        """The session, loaded on first use; see `get_session` (the function)."""
        exchange = self.exchange
        if self.done:
            raise ProtocolError(
                "get_session() after the response was prepared: its headers are sent, "
                "so the session can no longer change"
            )
        if exchange.state is State.OPEN:
            return exchange.session
        runtime = self.adapter.runtime
        if runtime.store is None:
            # Cookie storage: no I/O, so no other task can interleave.
            session = await runtime.load(exchange)
        else:
            lock = self.lock
            if lock is None:
                lock = self.lock = asyncio.Lock()
            async with lock:
                if exchange.state is not State.IDLE:
                    # Another task of this request opened it while this one waited.
                    return exchange.session
                try:
                    session = await runtime.load(exchange)
                except StoreError as error:
                    self.log_store_error(error)
                    raise
        # Only the call that opened the session gets here: the hook runs once.
        if session_timed_out(session):
            request = self.request
            if request is None:
                raise ProtocolError("the session was loaded after its request ended")
            await self.adapter.on_timeout(request, session)
        return session


# aiohttp 3.14 added typed request keys and warns about plain string keys;
# older releases only take strings.
_STATE_KEY: Any
try:
    from aiohttp.web import RequestKey
except ImportError:  # pragma: no cover - aiohttp < 3.14
    _STATE_KEY = "satchel_aiohttp.state"
else:
    _STATE_KEY = RequestKey("state", _RequestState)


def _state_of(request: web.BaseRequest) -> _RequestState:
    state = request.get(_STATE_KEY)
    if state is None:
        raise RuntimeError(
            "this request has no satchel session: call satchel_aiohttp.setup(app, settings, ...) "
            "on the application that serves it, or on a parent application"
        )
    return cast(_RequestState, state)


async def get_session(request: web.BaseRequest) -> Session:
    """The request's session, loaded from the store the first time it is asked for.

    A request whose handler never calls this costs no store operation and
    gets no session cookie. Later calls return the same session.

    Raises:
        aiohttp.web.HTTPException: the session the request presented ended by
            idle or absolute timeout; by default an ``HTTPFound`` to the
            configured ``timeout_location`` (see ``on_timeout`` in `setup`).
        satchel.StoreError: the store failed (already logged); the middleware
            answers 503, or whatever ``on_store_error`` returns.
        satchel.ProtocolError: the response's headers were already sent.
        RuntimeError: `setup` was not called for this application.

    """
    return await _state_of(request).load_session()


def request_cookies(request: web.BaseRequest) -> Mapping[str, str]:
    """The request's cookies, name → value, without opening the session.

    Parsed leniently from the raw ``Cookie`` header(s) by satchel (a malformed
    pair is skipped, never an error); the first of duplicated names wins.
    Values are returned as sent, not decoded.
    """
    return _state_of(request).request_cookies


def set_cookie(
    request: web.BaseRequest, name: str, value: str, **options: Unpack[CookieOptions]
) -> None:
    """Add a ``Set-Cookie`` for an application cookie to this request's response.

    The cookie is validated at once: a name, value or attribute that could
    inject another attribute raises `satchel.CookieError` and nothing is
    added. It is sent with the response's headers, whether or not the session
    was opened; the session cookie's own name is refused.

    Raises:
        satchel.CookieError: the cookie would be malformed or unsafe.
        satchel.ProtocolError: the response's headers were already sent.

    """
    _state_of(request).set_cookie(name, value, **options)


def delete_cookie(
    request: web.BaseRequest, name: str, **attributes: Unpack[CookieAttributes]
) -> None:
    """Expire an application cookie; pass the `path` and `domain` it was set with.

    Raises:
        satchel.CookieError: the name is invalid or is the session cookie's.
        satchel.ProtocolError: the response's headers were already sent.

    """
    _state_of(request).delete_cookie(name, **attributes)


async def _finish(state: _RequestState, response: web.StreamResponse) -> None:
    """Finish the exchange, run its ops and add its headers to `response`."""
    state.done = True
    exchange = state.exchange
    if exchange.state is State.ERROR:
        # The store failed when the session was opened and the handler
        # caught the StoreError and answered anyway. The session was never
        # handed over, so nothing of it is lost; no session header is sent.
        return
    try:
        # Saves of one session take turns; a save that cannot complete in
        # time raises SessionConflict, a StoreError: answered 503 like one.
        outcome = await state.adapter.runtime.save(exchange)
    except StoreError as error:
        state.log_store_error(error)
        raise
    except APPLICATION_ERRORS as error:
        # The application put something in its session that cannot be kept
        # (logged by the runtime): a bug to fix, answered 500 without a
        # traceback in the body.
        raise web.HTTPInternalServerError() from error
    headers = response.headers
    for name, value in outcome.headers:
        headers.add(name, value)  # add, never replace: there may be several Set-Cookie


async def _store_failed(
    request: web.Request, state: _RequestState, error: StoreError
) -> web.StreamResponse:
    state.log_store_error(error)
    hook = state.adapter.on_store_error
    if hook is not None:
        return await hook(request, error)
    return web.Response(
        status=UNAVAILABLE_STATUS, body=UNAVAILABLE_BODY, headers=UNAVAILABLE_HEADERS
    )


def _headers_sent(request: web.Request) -> bool:
    writer = request.writer
    return writer is not None and writer.output_size > 0


def make_middleware(adapter: Adapter) -> Middleware:
    """The session middleware for one configuration."""
    begin = adapter.runtime.begin

    @web.middleware
    async def satchel_session_middleware(
        request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        # All values of the header, raw: satchel parses them itself.
        exchange = begin(request.headers.getall("Cookie", ()))
        state = _RequestState(adapter, exchange, request)
        request[_STATE_KEY] = state
        # The request's context, for `satchel.current_session()` and the like.
        token = enter_request(state)
        try:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                # A redirect or error raised as an exception is a response too:
                # the session changes made before it are kept.
                if not state.done:
                    try:
                        await _finish(state, exc)
                    except StoreError as error:
                        return await _store_failed(request, state, error)
                raise
            except StoreError as error:
                state.done = True
                exchange.abandon()  # nothing of a failed request is saved
                if _headers_sent(request):
                    raise  # too late for another response; aiohttp closes the connection
                return await _store_failed(request, state, error)
            except BaseException:
                # An unhandled error becomes aiohttp's 500: like a failed
                # transaction, nothing this request did to the session is saved,
                # and the session raises ProtocolError if anything touches it later.
                state.done = True
                exchange.abandon()
                raise
            if not state.done:
                try:
                    await _finish(state, response)
                except StoreError as error:
                    return await _store_failed(request, state, error)
            return response
        finally:
            exit_request(token)
            state.request = None

    return satchel_session_middleware


async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Finish the exchange of a response the handler prepares itself.

    Streamed and websocket responses send their headers from inside the
    handler, so the session's headers must be added here, before they go.
    A failure propagates out of ``prepare()`` (already logged).
    """
    state = request.get(_STATE_KEY)
    if state is None:
        return
    state = cast(_RequestState, state)
    if not state.done:
        await _finish(state, response)
