"""The adapter runtime: everything a framework adapter needs that is not
about its framework.

Adapters differ in how they hook into their framework, never in what they
accept or how they treat a session: the settings, a store of the flavour their
I/O needs, a clock, the timeout and store-failure hooks, and the sweep
interval. `AdapterOptions` checks all of these in one place, naming the bad
option. `SessionRuntime` (threads) and `AsyncSessionRuntime` (asyncio) then do
the per-request work on top of the exchange: open and load a session, finish
and save it with the saves of one session taking turns, log what happened in
one set of words, sweep expired records, and describe the default answer to a
store failure. An adapter only translates between its framework and these,
and binds each request's state for the request-scoped accessors
(``satchel.current_session()`` and the like; see ``_context``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final, Generic, Literal, TypeVar, final

from ._checks import check_seconds
from ._errors import ConfigurationError, SessionTooLarge, StoreError, UnstorableValue
from ._exchange import Exchange, Outcome, SessionProtocol
from ._oploop import AsyncSaveLocks, SaveLocks, arun_ops, run_ops
from ._ops import AsyncStore, Op, Result, Store
from ._owners import (
    SessionInfo,
    aend_session,
    aend_sessions,
    alist_sessions,
    end_session,
    end_sessions,
    list_sessions,
)
from ._session import Session
from ._settings import Settings
from ._state import State

__all__ = [
    "APPLICATION_ERRORS",
    "RETRY_AFTER",
    "UNAVAILABLE_BODY",
    "UNAVAILABLE_HEADERS",
    "UNAVAILABLE_STATUS",
    "AdapterOptions",
    "AsyncSessionRuntime",
    "SessionRuntime",
    "SweepTask",
    "SweepThread",
    "ThreadedStore",
    "aclose_store",
    "close_store",
    "session_timed_out",
]

StoreT = TypeVar("StoreT")
Flavour = Literal["sync", "async", "any"]


def session_timed_out(session: Session) -> bool:
    """True when the session the request presented ended by idle or absolute
    timeout, which is when an adapter calls its ``on_timeout`` hook.
    """
    return session.ended_reason in ("idle", "absolute")


def _callable(name: str, value: object, *, optional: bool) -> None:
    if (value is None and optional) or callable(value):
        return
    raise ConfigurationError(f"{name}: must be callable, got {type(value).__name__}")


@final
class AdapterOptions(Generic[StoreT]):
    """The options an adapter takes, checked; and the protocol built from them.

    Args:
        settings: the session settings.
        store: a store of the adapter's flavour (`flavour`), or ``None`` to keep
            the whole session sealed in the cookie.
        flavour: ``"async"`` for adapters whose I/O is asynchronous (the
            store's ``execute`` must be a coroutine function), ``"sync"``
            for synchronous ones, ``"any"`` for asynchronous adapters that
            also take a synchronous store: it is wrapped in a `ThreadedStore`
            (kept in `store`), so its calls run on worker threads.
        framework: the framework's name, for error messages.
        clock: the time in POSIX seconds.
        on_timeout: the adapter's timeout hook, or ``None`` for its default.
        timeout_location: where the default timeout hook redirects.
        on_store_error: the adapter's store-failure hook, or ``None``.
        sweep_interval: seconds between sweeps of a store with ``sweep(now)``,
            or ``None`` never to sweep.

    Attributes:
        protocol: the `SessionProtocol` for these settings and storage.
        sweep: the store's ``sweep(now)`` when the adapter should run it every
            `sweep_interval` seconds, else ``None``.

    Raises:
        ConfigurationError: naming the first bad option.
    """

    __slots__ = (
        "clock",
        "on_store_error",
        "on_timeout",
        "protocol",
        "settings",
        "store",
        "sweep",
        "sweep_interval",
        "timeout_location",
    )

    def __init__(
        self,
        *,
        settings: Settings,
        store: StoreT | None,
        flavour: Flavour,
        framework: str,
        clock: Callable[[], float] = time.time,
        on_timeout: Any = None,
        timeout_location: str = "/",
        on_store_error: Any = None,
        sweep_interval: float | None = 60.0,
    ) -> None:
        if not isinstance(settings, Settings):
            raise ConfigurationError(
                f"settings: expected a satchel.Settings, got {type(settings).__name__}"
            )
        if store is not None:
            execute = getattr(store, "execute", None)
            if not callable(execute):
                raise ConfigurationError(
                    "store: expected a satchel store with an execute(op) method, "
                    f"got {type(store).__name__}"
                )
            asynchronous = inspect.iscoroutinefunction(execute)
            if flavour == "async" and not asynchronous:
                raise ConfigurationError(
                    f"store: {framework} needs an asynchronous store, whose execute() is a "
                    "coroutine function (such as satchel.AsyncMemoryStore); got "
                    f"{type(store).__name__}"
                )
            if flavour == "sync" and asynchronous:
                raise ConfigurationError(
                    f"store: {type(store).__name__} is asynchronous; {framework} needs the "
                    "synchronous flavour (for example MemoryStore rather than AsyncMemoryStore)"
                )
            if flavour == "any" and not asynchronous:
                store = ThreadedStore(store)  # type: ignore[assignment,arg-type]
        _callable("clock", clock, optional=False)
        _callable("on_timeout", on_timeout, optional=True)
        _callable("on_store_error", on_store_error, optional=True)
        if (
            not isinstance(timeout_location, str)
            or not timeout_location
            or any(ord(char) < 0x21 or ord(char) == 0x7F for char in timeout_location)
        ):
            raise ConfigurationError(
                "timeout_location: must be a non-empty URL without spaces or control "
                f"characters, got {timeout_location!r}"
            )
        if sweep_interval is not None:
            sweep_interval = check_seconds("sweep_interval", sweep_interval)
        self.settings = settings
        self.store = store
        self.clock = clock
        self.on_timeout = on_timeout
        self.timeout_location = timeout_location
        self.on_store_error = on_store_error
        self.sweep_interval = sweep_interval
        sweep = getattr(store, "sweep", None)
        self.sweep: Callable[[float], Any] | None = (
            sweep if callable(sweep) and self.sweep_interval is not None else None
        )
        self.protocol = SessionProtocol(
            settings,
            storage="cookie" if store is None else "server",
            owner_index=getattr(store, "owner_index", False) is True,
        )

    def __repr__(self) -> str:
        return (
            f"<AdapterOptions storage={self.protocol.storage!r} "
            f"sweep_interval={self.sweep_interval!r}>"
        )


# -- what every adapter answers and logs -------------------------------------------

UNAVAILABLE_STATUS: Final = 503
"""The status of the default answer to a store failure or a save that could
not complete (`SessionConflict`)."""

RETRY_AFTER: Final = "2"
"""The ``Retry-After`` of that answer, in seconds: store outages that heal
(a restart, a failover) and bursts of conflicting saves are over in seconds."""

UNAVAILABLE_BODY: Final = b"Service unavailable: sessions cannot be loaded or saved right now.\n"
"""The plain-text body of that answer."""

UNAVAILABLE_HEADERS: Final = (
    ("Content-Type", "text/plain; charset=utf-8"),
    # A passing failure: no cache may keep this answer.
    ("Cache-Control", "no-store"),
    ("Retry-After", RETRY_AFTER),
)
"""The headers of that answer (add ``Content-Length`` where the framework
does not). It carries no ``Set-Cookie``."""

APPLICATION_ERRORS: Final = (SessionTooLarge, UnstorableValue)
"""Errors of the application's session contents, found when finishing: bugs
to fix, answered 500 (after `SessionRuntime.save` has logged them)."""


class _Runtime:
    """What both runtime flavours share: the options, the protocol, the log."""

    __slots__ = ("clock", "logger", "options", "protocol")

    def __init__(self, options: AdapterOptions[Any], logger: logging.Logger) -> None:
        self.options = options
        self.protocol = options.protocol
        self.clock = options.clock
        self.logger = logger

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.options!r}>"

    @property
    def sweep_interval(self) -> float | None:
        """Seconds between sweeps, or ``None`` when there is nothing to sweep
        (cookie storage, a store without ``sweep``, or ``sweep_interval=None``):
        the adapter runs its cleanup job only when this is set.
        """
        return self.options.sweep_interval if self.options.sweep is not None else None

    def begin(self, cookie_headers: str | Iterable[str] | None) -> Exchange:
        """Begin a request's exchange at the clock's time (no I/O, nothing parsed)."""
        return self.protocol.begin(cookie_headers, now=self.clock())

    def log_store_error(self, error: StoreError) -> None:
        """Log a store failure (or a save given up) at ERROR, once per answer.

        The type and message only: drivers keep keys and values out of their
        messages, and a session ID or cookie never belongs in a log.
        """
        self.logger.error("session store failed: %s: %s", type(error).__name__, error)

    def finish(self, exchange: Exchange) -> bool:
        """Finish the exchange, unless it is already; True if store ops are pending.

        For adapters that must decide synchronously whether a save has to
        be awaited (`save` does this step itself).

        Raises:
            SessionTooLarge, UnstorableValue: the session cannot be stored
                (logged here).

        """
        if exchange.state not in (State.IDLE, State.OPEN):
            return exchange.next_op() is not None
        try:
            return exchange.finish() is not None
        except APPLICATION_ERRORS as error:
            # The message names sizes or a key, never a value or an ID.
            self.logger.error("session could not be saved: %s: %s", type(error).__name__, error)
            raise

    def collect(self, exchange: Exchange) -> Outcome:
        """The outcome of a done exchange, after logging what it reports."""
        outcome = exchange.outcome
        if outcome.conflicts_retried:
            self.logger.debug(
                "session saved after %d conflict(s) with concurrent requests",
                outcome.conflicts_retried,
            )
        if outcome.discarded_by_logout:
            self.logger.info("session changes discarded: a concurrent request ended the session")
        return outcome

    def _log_sweep(self, removed: object) -> int:
        count = removed if isinstance(removed, int) and not isinstance(removed, bool) else 0
        if count:
            self.logger.debug("session sweep removed %d expired record(s)", count)
        return count

    def _log_close_error(self, error: BaseException) -> None:
        self.logger.error("session store failed to close: %s: %s", type(error).__name__, error)

    def _log_sweep_error(self, error: BaseException) -> None:
        if isinstance(error, StoreError):
            # A store that is down now may be back by the next round.
            self.logger.error("session sweep failed: %s: %s", type(error).__name__, error)
        else:
            # Anything else is a bug, but it must not end the job for good.
            self.logger.error("session sweep failed", exc_info=error)


@final
class SessionRuntime(_Runtime):
    """The per-request work of an adapter whose I/O is synchronous (threads).

    Args:
        options: the adapter's checked options (``flavour="sync"``).
        logger: where to log, e.g. ``logging.getLogger("satchel.wsgi")``.

    """

    __slots__ = ("locks", "store")

    def __init__(self, options: AdapterOptions[Store], logger: logging.Logger) -> None:
        super().__init__(options, logger)
        self.store: Store | None = options.store
        self.locks = SaveLocks()
        """The per-session turns every save of this runtime takes."""

    def _owner_store(self) -> Store:
        # Listing and ending by owner need a store that keeps the index.
        self.protocol.require_owner_index()
        assert self.store is not None  # an index implies server storage
        return self.store

    def load(self, exchange: Exchange) -> Session:
        """Open the exchange and run its `Load`, if any; the session.

        Raises:
            StoreError: the store failed (not logged here: see `log_store_error`).

        """
        exchange.open()
        if self.store is not None:
            run_ops(exchange, self.store)
        return exchange.session

    def save(self, exchange: Exchange) -> Outcome:
        """Finish the exchange (unless `finish` did) and run its ops, taking
        the session's turn; the outcome, logged.

        Raises:
            StoreError: the store failed, or `SessionConflict`: the save could
                not complete before the conflict deadline (neither is logged
                here: see `log_store_error`).
            SessionTooLarge, UnstorableValue: the session cannot be stored
                (logged).

        """
        if self.finish(exchange):
            assert self.store is not None  # only server storage emits ops
            run_ops(exchange, self.store, locks=self.locks)
        return self.collect(exchange)

    def list_sessions(self, owner: str, *, current: str | None = None) -> list[SessionInfo]:
        """The live sessions of `owner`, most recently seen first, at the
        clock's time; `current` is the asking session's ``Session.handle``.

        Raises:
            OwnerIndexUnavailable: cookie storage, or a store without an owner index.
            StoreError: the store failed (not logged here).
            TypeError, ValueError: `owner` is not a valid owner.

        """
        return list_sessions(
            self._owner_store(), self.protocol, owner, now=self.clock(), current=current
        )

    def end_sessions(self, owner: str) -> int:
        """End every session of `owner` ("log out everywhere"); how many ended.

        Raises:
            OwnerIndexUnavailable: cookie storage, or a store without an owner index.
            StoreError: the store failed (not logged here).
            TypeError, ValueError: `owner` is not a valid owner.

        """
        return end_sessions(self._owner_store(), self.protocol, owner, now=self.clock())

    def end_session(self, owner: str, handle: str) -> bool:
        """End the session of `owner` that `handle` names; ``False`` if none.

        Raises:
            OwnerIndexUnavailable: cookie storage, or a store without an owner index.
            StoreError: the store failed (not logged here).

        """
        return end_session(self._owner_store(), self.protocol, owner, handle, now=self.clock())

    def close_store(self) -> None:
        """Close the store, if it can be closed; a failure is logged, not raised."""
        try:
            close_store(self.store)
        except Exception as error:
            self._log_close_error(error)

    def sweep_once(self) -> int | None:
        """Sweep expired records now; how many were removed, or ``None`` if
        the sweep failed (logged, never raised: the next round tries again).
        """
        sweep = self.options.sweep
        if sweep is None:
            return 0
        try:
            removed = sweep(self.clock())
        except Exception as error:
            self._log_sweep_error(error)
            return None
        return self._log_sweep(removed)


@final
class AsyncSessionRuntime(_Runtime):
    """The per-request work of an adapter whose I/O is asyncio; see `SessionRuntime`."""

    __slots__ = ("locks", "store")

    def __init__(self, options: AdapterOptions[AsyncStore], logger: logging.Logger) -> None:
        super().__init__(options, logger)
        self.store: AsyncStore | None = options.store
        self.locks = AsyncSaveLocks()
        """The per-session turns every save of this runtime takes."""

    def _owner_store(self) -> AsyncStore:
        # Listing and ending by owner need a store that keeps the index.
        self.protocol.require_owner_index()
        assert self.store is not None  # an index implies server storage
        return self.store

    async def load(self, exchange: Exchange) -> Session:
        """Open the exchange and run its `Load`, if any; see `SessionRuntime.load`."""
        exchange.open()
        if self.store is not None:
            await arun_ops(exchange, self.store)
        return exchange.session

    async def save(self, exchange: Exchange) -> Outcome:
        """Finish the exchange (unless `finish` did) and run its ops; see
        `SessionRuntime.save`.
        """
        if self.finish(exchange):
            assert self.store is not None  # only server storage emits ops
            await arun_ops(exchange, self.store, locks=self.locks)
        return self.collect(exchange)

    async def list_sessions(self, owner: str, *, current: str | None = None) -> list[SessionInfo]:
        """`SessionRuntime.list_sessions` on an asynchronous store."""
        return await alist_sessions(
            self._owner_store(), self.protocol, owner, now=self.clock(), current=current
        )

    async def end_sessions(self, owner: str) -> int:
        """`SessionRuntime.end_sessions` on an asynchronous store."""
        return await aend_sessions(self._owner_store(), self.protocol, owner, now=self.clock())

    async def end_session(self, owner: str, handle: str) -> bool:
        """`SessionRuntime.end_session` on an asynchronous store."""
        return await aend_session(
            self._owner_store(), self.protocol, owner, handle, now=self.clock()
        )

    async def close_store(self) -> None:
        """Close the store (its ``aclose`` or ``close``, awaited if need be),
        if it can be closed; a failure is logged, not raised.
        """
        try:
            await aclose_store(self.store)
        except Exception as error:
            self._log_close_error(error)

    async def sweep_once(self) -> int | None:
        """Sweep expired records now (awaiting an async ``sweep``); see
        `SessionRuntime.sweep_once`.
        """
        sweep = self.options.sweep
        if sweep is None:
            return 0
        try:
            removed = sweep(self.clock())
            if inspect.isawaitable(removed):
                removed = await removed
        except Exception as error:
            self._log_sweep_error(error)
            return None
        return self._log_sweep(removed)


# -- the cleanup job on a thread ------------------------------------------------------


@final
class SweepThread:
    """Calls ``runtime.sweep_once()`` every `interval` seconds on a daemon thread.

    The thread starts on the first `ensure_running` (an adapter calls it on
    each request) rather than at construction: a server that forks its
    workers after loading the application would otherwise leave the thread
    behind in the parent. A forked worker starts its own on its first
    request. `stop` ends the thread and waits for it.
    """

    __slots__ = ("_interval", "_lock", "_pid", "_runtime", "_stop", "_stopped", "_thread")

    def __init__(self, runtime: SessionRuntime, interval: float) -> None:
        self._runtime = runtime
        self._interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopped = False

    @property
    def running(self) -> bool:
        """True while this process's sweep thread is alive."""
        thread = self._thread
        return thread is not None and self._pid == os.getpid() and thread.is_alive()

    def ensure_running(self) -> None:
        """Start the thread in this process, unless it runs already or `stop` was called."""
        if self._pid == os.getpid() or self._stopped:
            return
        with self._lock:
            if self._pid == os.getpid() or self._stopped:
                return
            self._stop = threading.Event()  # a fresh one: a forked child's copy may be set
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), name="satchel-sweep", daemon=True
            )
            self._thread.start()
            self._pid = os.getpid()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the thread and wait up to `timeout` seconds for it to end."""
        with self._lock:
            self._stopped = True
            self._stop.set()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self._interval):
            self._runtime.sweep_once()


# -- a synchronous store behind an asynchronous adapter --------------------------------


@final
class ThreadedStore:
    """An asynchronous store that runs a synchronous store on worker threads.

    Each ``execute`` (and ``sweep``, if the store has one) runs in
    `asyncio.to_thread`, so a blocking driver never stalls the event loop.
    `AdapterOptions` wraps a synchronous store in one for adapters of the
    ``"any"`` flavour (ASGI); ``close`` closes the wrapped store, if it can be.

    Args:
        store: the synchronous store.

    """

    __slots__ = ("owner_index", "store", "sweep")

    def __init__(self, store: Store) -> None:
        self.store = store
        self.owner_index = getattr(store, "owner_index", False) is True
        """The wrapped store's ``owner_index``: it keeps an owner index."""
        inner_sweep = getattr(store, "sweep", None)

        async def sweep(now: float) -> object:
            assert inner_sweep is not None
            return await asyncio.to_thread(inner_sweep, now)

        self.sweep: Callable[[float], Awaitable[object]] | None = (
            sweep if callable(inner_sweep) else None
        )
        """The wrapped store's ``sweep`` on a worker thread, or ``None``."""

    def __repr__(self) -> str:
        return f"ThreadedStore({self.store!r})"

    async def execute(self, op: Op) -> Result:
        """Run ``store.execute(op)`` on a worker thread."""
        return await asyncio.to_thread(self.store.execute, op)

    async def close(self) -> None:
        """Close the wrapped store (on a worker thread), if it has ``close``."""
        close = getattr(self.store, "close", None)
        if callable(close):
            await asyncio.to_thread(close)


# -- the cleanup job on an event loop ---------------------------------------------------


@final
class SweepTask:
    """Calls ``runtime.sweep_once()`` every `interval` seconds in an asyncio task.

    The asynchronous counterpart of `SweepThread`, for adapters that run on
    an event loop: `start` it when the application starts (on that loop) and
    await `stop` when it shuts down.

    Args:
        runtime: the adapter's runtime (its store's ``sweep`` and its clock).
        interval: seconds between sweeps.
        name: the asyncio task's name.

    """

    __slots__ = ("_interval", "_name", "_runtime", "_task")

    def __init__(
        self, runtime: AsyncSessionRuntime, interval: float, *, name: str = "satchel-sweep"
    ) -> None:
        self._runtime = runtime
        self._interval = interval
        self._name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """True between `start` and `stop`."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start sweeping on the running loop, unless it runs already."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Cancel the task and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # wait() neither raises the task's CancelledError nor leaves it pending.
            await asyncio.wait((task,))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self._runtime.sweep_once()  # logs a failure; the next round tries again


# -- closing a store ----------------------------------------------------------------------


def close_store(store: object) -> None:
    """Close a synchronous store with its ``close()``, if it has one."""
    close = getattr(store, "close", None)
    if callable(close):
        close()


async def aclose_store(store: object) -> None:
    """Close a store with its ``aclose()`` or ``close()`` (awaited when it
    returns an awaitable), if it has either: asynchronous drivers name it
    either way (`AsyncSQLiteStore.close`, the Redis driver's ``aclose``).
    """
    close = getattr(store, "aclose", None) or getattr(store, "close", None)
    if callable(close):
        closed = close()
        if inspect.isawaitable(closed):
            await closed
