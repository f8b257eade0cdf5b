"""The cleanup job: a daemon thread that sweeps expired records out of a store."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import final

from satchel import StoreError

__all__ = ["Sweeper"]

logger = logging.getLogger("satchel.wsgi")


# --8<-- [start:sweeper]
@final
class Sweeper:
    """Calls ``sweep(clock())`` every `interval` seconds on a daemon thread.

    The thread starts on the first `ensure_running` (the middleware calls it
    on each request) rather than at construction: a server that forks its
    workers after loading the application would otherwise leave the thread
    behind in the parent. A forked worker starts its own on its first
    request. `stop` ends the thread and waits for it.
    """

    __slots__ = ("_clock", "_interval", "_lock", "_pid", "_stop", "_stopped", "_sweep", "_thread")

    def __init__(
        self, sweep: Callable[[float], object], clock: Callable[[], float], interval: float
    ) -> None:
        self._sweep = sweep
        self._clock = clock
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
                target=self._run, args=(self._stop,), name="satchel-wsgi-sweep", daemon=True
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
            self.sweep_once()

    def sweep_once(self) -> None:
        """Sweep now; a failure is logged, never raised (the next run retries)."""
        try:
            self._sweep(self._clock())
        except StoreError as error:
            logger.error("session sweep failed: %s: %s", type(error).__name__, error)
        except Exception:
            # Anything else is a bug, but it must not end the job for good.
            logger.exception("session sweep failed unexpectedly")

    # --8<-- [end:sweeper]
