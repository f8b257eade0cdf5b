"""Run an aiohttp application on a real socket, in a thread with its own loop.

The conformance suite and `HttpClient` are synchronous, so the server runs
beside the test rather than in the test's event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")


class LiveApp:
    """`app` served on 127.0.0.1 at a free port until `stop`."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="aiohttp-server")
        self._thread.start()
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=2.0
        )
        self.stopped = False
        try:
            self.port: int = self.call(self._start())
        except BaseException:
            self._close_loop()
            raise
        self.base_url = f"http://127.0.0.1:{self.port}"

    async def _start(self) -> int:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return int(self._runner.addresses[0][1])

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run `coroutine` on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self, before_close: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
        """Shut the app down (its cleanup runs), then the loop and the thread."""
        if self.stopped:
            return
        self.stopped = True
        self.call(self._runner.cleanup())
        if before_close is not None:
            self.call(before_close())
        self._close_loop()

    def _close_loop(self) -> None:
        self.stopped = True
        self.call(self.loop.shutdown_asyncgens())
        self.call(self.loop.shutdown_default_executor())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
