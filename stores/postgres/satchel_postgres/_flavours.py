"""Where the two flavours of the PostgreSQL store differ: how a round trip
that overruns its limit is cut short, and how the store's first use waits.

psycopg's calls have no timeout of their own, and cancelling an asyncio one
makes psycopg ask the (silent) server to cancel, which can take longer still.
Shutting the socket down (`sever`) ends the wait at once, in either flavour;
what differs is who does it: the event loop (a timer per round trip) or one
thread per store (the synchronous flavour has no loop to ask).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic
from types import TracebackType
from typing import Final, Protocol, final

from ._shared import AnyConnection, sever

__all__ = ["AsyncWatchdog", "SyncWatchdog", "Watch", "async_flavour", "sync_flavour"]


class Watch:
    """One round trip under watch; `timed_out` says whether it was severed."""

    __slots__ = ("conn", "timed_out")

    def __init__(self, conn: AnyConnection) -> None:
        self.conn = conn
        self.timed_out = False

    def expire(self) -> None:
        self.timed_out = True
        sever(self.conn)


@final
class _TimedWatch(Watch):
    __slots__ = ("_handle",)

    def __init__(self, conn: AnyConnection, limit: float) -> None:
        super().__init__(conn)
        self._handle = asyncio.get_running_loop().call_later(limit, self.expire)

    def __enter__(self) -> Watch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._handle.cancel()


@final
class AsyncWatchdog:
    """Severs a connection whose round trip overruns `limit`: a loop timer each."""

    __slots__ = ("_limit",)

    def __init__(self, limit: float) -> None:
        self._limit = limit

    def watch(self, conn: AnyConnection) -> _TimedWatch:
        """Sever `conn` if the body has not finished within the limit."""
        return _TimedWatch(conn, self._limit)

    def stop(self) -> None:
        """Nothing to stop: the timers end with their round trips."""


@final
class _DeadlineWatch(Watch):
    __slots__ = ("deadline",)

    def __init__(self, conn: AnyConnection, deadline: float) -> None:
        super().__init__(conn)
        self.deadline = deadline


@final
class SyncWatchdog:
    """Closes the socket of any round trip that overruns its deadline.

    A server that has stopped answering (but not closed the connection)
    would hold the calling thread forever. One thread per store sleeps until
    the earliest deadline, or for one limit's length when nothing is watched.
    Every deadline is "now + the limit", so no sleep begun before a watch can
    outlast that watch's deadline, and a watch never has to wake the thread:
    the hot path takes a lock and touches a dict, nothing more.
    """

    __slots__ = ("_cond", "_limit", "_stopped", "_thread", "_watches")

    def __init__(self, limit: float) -> None:
        self._limit = limit
        self._cond = threading.Condition(threading.Lock())
        self._watches: dict[int, _DeadlineWatch] = {}
        self._thread: threading.Thread | None = None
        self._stopped = False

    @contextmanager
    def watch(self, conn: AnyConnection) -> Iterator[Watch]:
        """Sever `conn` if the body has not finished within the limit."""
        watch = _DeadlineWatch(conn, monotonic() + self._limit)
        key = id(watch)
        with self._cond:
            self._watches[key] = watch
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(
                    target=self._run, name="satchel-postgres-watchdog", daemon=True
                )
                self._thread.start()
        try:
            yield watch
        finally:
            # Under the lock, so the connection is never severed after it
            # has gone back to the pool.
            with self._cond:
                self._watches.pop(key, None)

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                now = monotonic()
                if not self._watches:
                    self._cond.wait(self._limit)
                    continue
                due = min(watch.deadline for watch in self._watches.values())
                if due > now:
                    self._cond.wait(due - now)
                    continue
                for key, watch in list(self._watches.items()):
                    if watch.deadline <= now:
                        del self._watches[key]
                        watch.expire()

    def stop(self) -> None:
        """End the thread (pending watches are dropped)."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)


class _Opens(Protocol):
    def open(self) -> object: ...
    def close(self) -> object: ...


@final
class _AsyncFlavour:
    """What the asyncio store does where the synchronous one differs."""

    @staticmethod
    def watchdog(limit: float) -> AsyncWatchdog:
        return AsyncWatchdog(limit)

    @staticmethod
    def lock() -> asyncio.Lock:
        # Bound to the loop that first waits on it.
        return asyncio.Lock()

    @staticmethod
    def open_at_once(store: _Opens) -> None:
        """Nothing yet: no event loop may be running, so the first call opens."""


@final
class _SyncFlavour:
    """What the synchronous store does where the asyncio one differs."""

    @staticmethod
    def watchdog(limit: float) -> SyncWatchdog:
        return SyncWatchdog(limit)

    @staticmethod
    def lock() -> threading.Lock:
        return threading.Lock()

    @staticmethod
    def open_at_once(store: _Opens) -> None:
        """Open the pool (it connects in the background) and, if asked,
        create the schema, closing the store if that fails.
        """
        try:
            store.open()
        except BaseException:
            store.close()
            raise


async_flavour: Final = _AsyncFlavour()
sync_flavour: Final = _SyncFlavour()
