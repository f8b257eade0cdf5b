"""`SessionMixin`: sessions for `tornado.web.RequestHandler`.

Tornado's `RequestHandler.finish` is synchronous and its callers
(``_execute``, `redirect`, `send_error`) do not wait for it, but saving a
server-side session is asynchronous. So the mixin overrides `finish` and
`flush`: when the session needs store operations, the real `finish` (or the
first real `flush`, which sends the headers) runs only after they are done,
and the returned future resolves when it has. Meanwhile Tornado sees the
response as finished, so nothing finishes it twice.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import sys
from asyncio import Future
from collections.abc import Callable, Mapping
from typing import Any, Final, Unpack, final

import tornado.web

from satchel import (
    APPLICATION_ERRORS,
    UNAVAILABLE_BODY,
    UNAVAILABLE_HEADERS,
    UNAVAILABLE_STATUS,
    AsyncSessionRuntime,
    CookieAttributes,
    CookieOptions,
    Exchange,
    ProtocolError,
    RequestContext,
    Session,
    State,
    StoreError,
    enter_request,
    session_timed_out,
)

from ._config import SessionConfig, config_of, logger

__all__ = ["STORE_ERROR_BODY", "SessionMixin", "logger"]

STORE_ERROR_BODY: Final = UNAVAILABLE_BODY.decode("ascii")
"""The plain-text body of the default answer (503) to a store failure."""


def _done() -> Future[None]:
    future: Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


def _stopped() -> Future[None]:
    """A future that stops an awaiting handler quietly: the response was
    already answered with an error page.
    """
    future: Future[None] = asyncio.get_running_loop().create_future()
    future.set_exception(tornado.web.Finish())
    future.exception()  # retrieved: nobody has to await it
    return future


def _relay(source: Future[None], target: Future[None]) -> None:
    """Complete `target` like `source` once `source` is done."""

    def copy(done: Future[None]) -> None:
        if done.cancelled():
            if not target.done():
                target.cancel()
            return
        error = done.exception()
        if target.done():
            return
        if error is None:
            target.set_result(None)
        else:
            target.set_exception(error)
            # Like Tornado's own write futures: a client that went away is
            # not worth a "never retrieved" warning when nobody awaits.
            target.exception()

    source.add_done_callback(copy)


@final
class _HandlerContext(RequestContext):
    """A handler's `satchel.RequestContext`: ``satchel.current_session()``
    and the like, answered by the handler's own accessors.
    """

    __slots__ = ("handler",)

    def __init__(self, handler: SessionMixin) -> None:
        self.handler = handler

    def get_session(self) -> Session:
        handler = self.handler
        exchange = handler._satchel_exchange
        if exchange is not None and exchange.state is State.OPEN:
            return exchange.session
        if handler._satchel_closed or (exchange is not None and exchange.state is not State.IDLE):
            raise ProtocolError(
                "the session was asked for after the response was finished or its "
                "headers were sent, so it can no longer change"
            )
        raise ProtocolError(
            "the session of this request is not loaded yet, and loading it awaits the "
            "store: use `await satchel.load_current_session()` (or "
            "`await self.get_session()` in the handler)"
        )

    async def load_session(self) -> Session:
        return await self.handler.get_session()

    @property
    def runtime(self) -> AsyncSessionRuntime:
        return self.handler.session_config.runtime

    @property
    def request_cookies(self) -> Mapping[str, str]:
        return self.handler.request_cookies

    def set_cookie(self, name: str, value: str, **options: Unpack[CookieOptions]) -> None:
        self.handler.set_response_cookie(name, value, **options)

    def delete_cookie(self, name: str, **attributes: Unpack[CookieAttributes]) -> None:
        self.handler.delete_response_cookie(name, **attributes)


class SessionMixin(tornado.web.RequestHandler):
    """Mix into a `RequestHandler` to give it a session.

    The Application must hold a `SessionConfig` under the ``"satchel"``
    setting. Then, in any handler method::

        class Counter(SessionMixin, tornado.web.RequestHandler):
            async def get(self) -> None:
                session = await self.get_session()
                session["count"] = session.get("count", 0) + 1
                self.write(str(session["count"]))

    The session is loaded only when `get_session` is first awaited, and saved
    before the response headers are sent, whichever way the response ends:
    returning, `finish`, `redirect`, `render`, ``raise HTTPError(...)``,
    ``raise Finish()``, or the first `flush` of a streamed response. After
    that the session raises `satchel.ProtocolError` if touched.

    While a request is served (its ``prepare``, handler method, ``on_finish``
    and the tasks they start), ``satchel.load_current_session()`` and the
    other request-scoped accessors reach the same session from any function.
    """

    # Per-request state. Class-level defaults, so no __init__ override is
    # needed and handlers that override initialize() need no super() call.
    _satchel_config: SessionConfig | None = None
    _satchel_exchange: Exchange | None = None
    # Set once the exchange has been finished (at the first flush or finish).
    _satchel_closed: bool = False
    # The task running the store ops of the finished exchange, while it runs.
    _satchel_gate: asyncio.Task[None] | None = None
    _satchel_loading: Future[None] | None = None
    # True while `finish` waits for the gate and Tornado's _finished is set early.
    _satchel_finish_deferred: bool = False
    # The session's headers, added at the first real flush (so clear() and
    # send_error() cannot drop them, as with Tornado's own set_cookie).
    _satchel_headers: tuple[tuple[str, str], ...] = ()
    _satchel_refused: bool = False
    _satchel_context: _HandlerContext | None = None

    def _execute(  # type: ignore[override]
        self, transforms: list[tornado.web.OutputTransform], *args: bytes, **kwargs: bytes
    ) -> asyncio.Task[None]:
        # Tornado runs each request's _execute as a task of its own (it wraps
        # the coroutine in one; a task it is handed is used as is). The task
        # runs in a copy of the current context with the handler bound in it
        # (see satchel_request_context): the handler, on_finish and every
        # task they create see it, and the caller's context is never changed,
        # so there is nothing to undo. Cheaper than a coroutine around
        # Tornado's, which every resume of the request would pass through.
        context = contextvars.copy_context()
        context.run(enter_request, self)
        return asyncio.get_running_loop().create_task(
            super()._execute(transforms, *args, **kwargs), context=context
        )

    def satchel_request_context(self) -> RequestContext:
        """The handler's `satchel.RequestContext`, made the first time code
        calls ``satchel.current_session()`` or another request-scoped
        accessor (the handler is what each request binds: a
        `satchel.RequestContextSource`).
        """
        context = self._satchel_context
        if context is None:
            context = self._satchel_context = _HandlerContext(self)
        return context

    # -- configuration ----------------------------------------------------

    @property
    def session_config(self) -> SessionConfig:
        """The Application's `SessionConfig`.

        Raises:
            satchel.ConfigurationError: the Application has no ``satchel`` setting.

        """
        config = self._satchel_config
        if config is None:
            config = self._satchel_config = config_of(self.application)
        return config

    def _satchel_exchange_now(self) -> Exchange:
        exchange = self._satchel_exchange
        if exchange is None:
            config = self.session_config
            exchange = config.runtime.begin(self.request.headers.get_list("Cookie") or None)
            self._satchel_exchange = exchange
            if self._satchel_closed or self._finished or self._headers_written:
                # Too late to add anything to the response: finishing now
                # makes the session and cookie calls raise ProtocolError.
                exchange.finish()
        return exchange

    # -- the session --------------------------------------------------------

    async def get_session(self) -> Session:
        """The request's session, loaded from the store on first use.

        If the session the request presented ended by idle or absolute
        timeout, the request is answered by ``on_timeout`` (by default a 302
        redirect to ``timeout_location``) and the handler is stopped with
        `tornado.web.Finish`. If the store fails, the request is answered by
        ``on_store_error`` (by default a 503) and the handler is stopped the
        same way.

        Raises:
            satchel.ProtocolError: the response was already finished or its
                headers sent.

        """
        exchange = self._satchel_exchange_now()
        if exchange.state is State.IDLE:
            if self._satchel_closed:
                raise ProtocolError(
                    "the session cannot be opened once the response is finished "
                    "or its headers are sent"
                )
            exchange.open()
            if exchange.next_op() is not None:
                await self._satchel_load(exchange)
            session = exchange.session
            if session_timed_out(session):
                await self._satchel_timed_out(session)
                raise tornado.web.Finish()
            return session
        if exchange.state is State.LOADING and self._satchel_loading is not None:
            # Another coroutine of this handler is loading it: share the result.
            await asyncio.shield(self._satchel_loading)
        if self._satchel_refused:
            # Timed out or the store failed: the request was answered already.
            raise tornado.web.Finish()
        return exchange.session

    async def _satchel_load(self, exchange: Exchange) -> None:
        loading: Future[None] = asyncio.get_running_loop().create_future()
        self._satchel_loading = loading
        try:
            await self.session_config.runtime.load(exchange)
        except StoreError as error:
            self._satchel_refused = True
            await self._satchel_store_failed(error)
            raise tornado.web.Finish() from None
        finally:
            self._satchel_loading = None
            loading.set_result(None)
        if self._satchel_closed:
            raise ProtocolError("the response was finished while its session was loading")

    async def _satchel_timed_out(self, session: Session) -> None:
        self._satchel_refused = True
        config = self.session_config
        self.clear()
        if config.on_timeout is None:
            self.redirect(config.timeout_location)
            return
        result = config.on_timeout(self, session)
        if inspect.isawaitable(result):
            await result
        if not self._finished:
            self.finish()

    async def finish_session(self) -> None:
        """Save the session now, before the response is finished.

        Afterwards the session raises `satchel.ProtocolError` if touched, and
        its headers go out with the response. Call it in a
        `tornado.websocket.WebSocketHandler` before the handshake (the
        handshake's ``finish`` cannot wait for the store). Calling it again,
        or without a session, does nothing.

        Raises:
            tornado.web.Finish: the store failed or the session could not be
                saved, and the request was answered with an error page.

        """
        gate = self._satchel_gate
        if gate is None and not self._satchel_closed:
            if self._finished or self._headers_written:
                self._satchel_closed = True
                return
            gate = self._satchel_close()
            if gate is None and self._finished:
                raise tornado.web.Finish()
        if gate is not None:
            await asyncio.shield(gate)

    # -- custom cookies -----------------------------------------------------

    @property
    def request_cookies(self) -> Mapping[str, str]:
        """The request's cookies, name → raw value (the first of repeated
        names wins). Reading them does not open the session.
        """
        return self._satchel_exchange_now().request_cookies

    def set_response_cookie(self, name: str, value: str, **options: Unpack[CookieOptions]) -> None:
        """Send an application cookie with the response, validated by satchel.

        A name, value or attribute that could inject into the header raises
        `satchel.CookieError` and nothing is sent. The defaults are the safe
        ones (Secure, HttpOnly, SameSite=Lax, Path=/); a browser-session
        cookie unless `max_age` or `expires` is given. Does not open the
        session.

        Raises:
            satchel.CookieError: the cookie would be malformed or unsafe, or
                has the session cookie's name.
            satchel.ProtocolError: the response headers were already sent.

        """
        self._satchel_exchange_now().set_cookie(name, value, **options)

    def delete_response_cookie(self, name: str, **attributes: Unpack[CookieAttributes]) -> None:
        """Expire an application cookie; pass the Path and Domain it was set with.

        Raises:
            satchel.CookieError: the name is malformed or the session cookie's.
            satchel.ProtocolError: the response headers were already sent.

        """
        self._satchel_exchange_now().delete_cookie(name, **attributes)

    # -- finishing: flush and finish ------------------------------------------

    def flush(self, include_footers: bool = False) -> Future[None]:
        """Send what was written so far; the first flush sends the headers.

        Before the first flush the session is finished and saved (so a
        streamed response carries its ``Set-Cookie``); the returned future
        resolves once the data is written. If the store fails first, the
        request is answered with the store error page instead and the future
        raises `tornado.web.Finish`, which stops the handler quietly.
        """
        gate = self._satchel_gate
        if gate is not None:
            return self._satchel_queue(gate, lambda: self.flush(include_footers))
        if not self._headers_written:
            if not self._satchel_closed:
                gate = self._satchel_close()
                if gate is not None:
                    return self._satchel_queue(gate, lambda: self.flush(include_footers))
                if self._satchel_answered():
                    return _stopped()  # answered with an error page instead
            for name, value in self._satchel_headers:
                self.add_header(name, value)
            self._satchel_headers = ()
        return super().flush(include_footers)

    def finish(self, chunk: str | bytes | dict[Any, Any] | None = None) -> Future[None]:
        """Finish the response, after saving the session if it needs saving.

        Returns a future that resolves once the response is sent (as
        Tornado's does); Tornado and the handler see the response as finished
        at once.
        """
        if self._finished:
            return super().finish(chunk)  # Tornado's own "finish() called twice"
        gate = self._satchel_gate
        if gate is None and not self._satchel_closed and not self._headers_written:
            if chunk is not None:
                self.write(chunk)
                chunk = None
            gate = self._satchel_close()
            if gate is None:
                if self._satchel_answered():
                    return _done()  # answered with an error page instead
                return super().finish()
        if gate is None:
            return super().finish(chunk)
        if chunk is not None:
            self.write(chunk)
        # Tornado must see the response as finished while the store works:
        # further writes raise, and _execute does not finish it again.
        self._finished = True
        self._satchel_finish_deferred = True
        return self._satchel_queue(gate, self._satchel_deferred_finish)

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """Send an error page (see `tornado.web.RequestHandler.send_error`).

        For an unhandled exception (anything but `tornado.web.HTTPError`),
        nothing the request did to its session is saved, as with a failed
        transaction. An `HTTPError` is a response like any other: the
        session's changes are kept.
        """
        exc_info = kwargs.get("exc_info")
        if (
            exc_info is not None
            and not isinstance(exc_info[1], tornado.web.HTTPError)
            and not self._satchel_closed
            and self._satchel_gate is None
        ):
            # Closing without finishing the exchange: no op, no header.
            self._satchel_closed = True
        super().send_error(status_code, **kwargs)

    def _satchel_deferred_finish(self) -> Future[None]:
        self._satchel_undefer()
        try:
            return self.finish()
        except Exception:
            # Nobody awaits a deferred finish: answer here, as _execute would.
            self.log_exception(*sys.exc_info())
            if not self._finished:
                self.send_error(500)
            return _done()

    def _satchel_answered(self) -> bool:
        # A method, not an inline test: finishing the exchange may have
        # answered (and finished) the request with an error page.
        return self._finished

    def _satchel_undefer(self) -> None:
        if self._satchel_finish_deferred:
            self._satchel_finish_deferred = False
            self._finished = False

    def _satchel_queue(
        self, gate: asyncio.Task[None], step: Callable[[], Future[None]]
    ) -> Future[None]:
        """Run `step` once the store ops are done; a future for its result."""
        result: Future[None] = asyncio.get_running_loop().create_future()

        def run(done: asyncio.Task[None]) -> None:
            if done.cancelled():
                result.cancel()
                return
            if done.exception() is not None:
                # The request was answered with an error page instead.
                if not result.done():
                    result.set_exception(tornado.web.Finish())
                    result.exception()
                return
            try:
                sent = step()
            except Exception as error:
                if not result.done():
                    result.set_exception(error)
                return
            _relay(sent, result)

        gate.add_done_callback(run)
        return result

    def _satchel_close(self) -> asyncio.Task[None] | None:
        """Finish the exchange, once. Returns the task running its store ops,
        or None when the headers are ready (or the request was answered with
        an error page).
        """
        self._satchel_closed = True
        exchange = self._satchel_exchange
        if exchange is None or exchange.state not in (State.IDLE, State.OPEN):
            return None
        runtime = self.session_config.runtime
        try:
            pending = runtime.finish(exchange)
        except APPLICATION_ERRORS:
            self._satchel_application_error()
            return None
        if not pending:
            self._satchel_headers = runtime.collect(exchange).headers
            return None
        if self.get_status() == 101:
            raise ProtocolError(
                "the session must be saved before a WebSocket handshake: "
                "call `await self.finish_session()` before accepting the connection"
            )
        gate = asyncio.get_running_loop().create_task(self._satchel_save(exchange))
        self._satchel_gate = gate
        return gate

    async def _satchel_save(self, exchange: Exchange) -> None:
        try:
            # Saves of one session take turns; one that cannot complete in
            # time raises SessionConflict, a StoreError: a 503 like any.
            outcome = await self.session_config.runtime.save(exchange)
        except StoreError as error:
            self._satchel_gate = None
            await self._satchel_store_failed(error)
            raise tornado.web.Finish() from None
        except Exception:
            self._satchel_gate = None
            self.log_exception(*sys.exc_info())
            self._satchel_undefer()
            if not self._finished:
                self.send_error(500)
            raise tornado.web.Finish() from None
        self._satchel_gate = None
        self._satchel_headers = outcome.headers

    # -- failures ---------------------------------------------------------------

    def _satchel_application_error(self) -> None:
        # Logged by the runtime; answered like any other bug.
        self._satchel_undefer()
        if not self._finished:
            self.send_error(500)

    async def _satchel_store_failed(self, error: StoreError) -> None:
        self.session_config.runtime.log_store_error(error)
        self._satchel_undefer()
        if self._finished:
            return
        self.clear()
        # No Set-Cookie at all on this answer, not even Tornado's own cookies.
        self.__dict__.pop("_new_cookie", None)
        hook = self.session_config.on_store_error
        if hook is None:
            self.set_status(UNAVAILABLE_STATUS)
            for name, value in UNAVAILABLE_HEADERS:
                self.set_header(name, value)
            self.finish(UNAVAILABLE_BODY)
            return
        try:
            result = hook(self, error)
            if inspect.isawaitable(result):
                await result
        except tornado.web.Finish as stop:
            if not self._finished:
                self.finish(*stop.args)
        except Exception:
            self.log_exception(*sys.exc_info())
            if not self._finished:
                self.send_error(500)
        if not self._finished:
            self.finish()
