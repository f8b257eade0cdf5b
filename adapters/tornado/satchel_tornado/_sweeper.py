"""The periodic sweep of expired records, on a `tornado.ioloop.PeriodicCallback`."""

from __future__ import annotations

import asyncio
from asyncio import Future
from types import TracebackType
from typing import final

import tornado.ioloop
import tornado.web

from ._config import SessionConfig, config_of

__all__ = ["Sweeper", "start_sweeper"]


@final
class Sweeper:
    """Calls the store's ``sweep(now)`` every ``sweep_interval`` seconds.

    Only stores that keep expired records until swept have ``sweep``
    (memory, SQLite, PostgreSQL); for the others, for cookie storage and for
    ``sweep_interval=None`` the sweeper does nothing. A failed sweep is
    logged on ``satchel.tornado`` and retried at the next interval; it never
    raises. Use `start_sweeper` to make and start one.

    Args:
        config: the session configuration whose store and clock to use.

    """

    __slots__ = ("_callback", "_config", "_running_sweep", "removed", "runs")

    def __init__(self, config: SessionConfig) -> None:
        self._config = config
        self._callback: tornado.ioloop.PeriodicCallback | None = None
        self._running_sweep: Future[None] | None = None
        self.runs = 0
        """How many sweeps have completed (failed ones not counted)."""
        self.removed = 0
        """How many records the sweeps have removed in all."""

    def __repr__(self) -> str:
        return f"<Sweeper running={self.running} runs={self.runs}>"

    @property
    def enabled(self) -> bool:
        """True if the store has ``sweep`` and an interval is set."""
        return self._config.sweep is not None

    @property
    def running(self) -> bool:
        """True between `start` and `stop`, if the sweeper is `enabled`."""
        return self._callback is not None and self._callback.is_running()

    def start(self) -> None:
        """Start sweeping on the running IOLoop (call it from a coroutine on
        that loop). Does nothing if the sweeper is not `enabled` or already runs.
        """
        if not self.enabled or self.running:
            return
        interval = self._config.sweep_interval
        assert interval is not None
        self._callback = tornado.ioloop.PeriodicCallback(self.sweep, interval * 1000.0)
        self._callback.start()

    async def sweep(self) -> int:
        """Sweep once now; return how many records were removed (0 on failure)."""
        sweep = self._config.sweep
        if sweep is None:
            return 0
        loop = asyncio.get_running_loop()
        sweeping: Future[None] = loop.create_future()
        self._running_sweep = sweeping
        try:
            # Logs a failure and answers None; never raises.
            count = await self._config.runtime.sweep_once()
        finally:
            self._running_sweep = None
            sweeping.set_result(None)
        if count is None:
            return 0
        self.runs += 1
        self.removed += count
        return count

    def stop(self) -> None:
        """Stop sweeping; a sweep already under way completes (see `close`)."""
        if self._callback is not None:
            self._callback.stop()
            self._callback = None

    async def close(self) -> None:
        """Stop sweeping and wait for a sweep under way to complete."""
        self.stop()
        sweeping = self._running_sweep
        if sweeping is not None:
            await asyncio.shield(sweeping)

    async def __aenter__(self) -> Sweeper:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def start_sweeper(source: tornado.web.Application | SessionConfig) -> Sweeper:
    """Start sweeping the store of an Application (or of a `SessionConfig`).

    Call it from a coroutine on the loop that serves the Application, and
    stop it on shutdown with ``await sweeper.close()`` (or ``sweeper.stop()``)::

        sweeper = satchel_tornado.start_sweeper(app)
        try:
            await shutdown_event.wait()
        finally:
            await sweeper.close()

    Raises:
        satchel.ConfigurationError: the Application has no ``satchel`` setting.

    """
    sweeper = Sweeper(config_of(source))
    sweeper.start()
    return sweeper
