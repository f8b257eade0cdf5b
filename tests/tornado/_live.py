"""Real Tornado servers for the tests: each runs on 127.0.0.1, on a free
port, in a background thread with its own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web

from satchel import Keyring, Settings
from satchel_tornado import Sweeper, start_sweeper

SECRET = "tornado adapter tests secret 0001"

Runner = Callable[[asyncio.Event, Callable[[int], None]], Awaitable[None]]


def adapter_settings(**changes: Any) -> Settings:
    """The settings every adapter test runs with (plain HTTP, short idle timeout)."""
    values: dict[str, Any] = {
        "keyring": Keyring([SECRET]),
        "secure": False,
        "idle_timeout": 60,
        "touch_interval": 6,
    }
    values.update(changes)
    return Settings(**values)


@contextlib.contextmanager
def serving(runner: Runner) -> Iterator[str]:
    """Run `runner(stop, ready)` on a loop in a thread; yield the base URL.

    `runner` binds a server, calls ``ready(port)``, waits for `stop` and
    shuts down. Leaving the block sets `stop` and joins the thread.
    """
    ready = threading.Event()
    state: dict[str, Any] = {}

    def target() -> None:
        async def main() -> None:
            stop = asyncio.Event()
            state["loop"], state["stop"] = asyncio.get_running_loop(), stop

            def on_ready(port: int) -> None:
                state["port"] = port
                ready.set()

            await runner(stop, on_ready)

        try:
            asyncio.run(main())
        except BaseException as error:
            state["error"] = error
        finally:
            ready.set()

    thread = threading.Thread(target=target, name="tornado-test-server", daemon=True)
    thread.start()
    assert ready.wait(10), "the server did not start"
    if "error" in state:
        raise state["error"]
    try:
        yield f"http://127.0.0.1:{state['port']}"
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)
        assert not thread.is_alive(), "the server did not stop"
        if "error" in state:
            raise state["error"]


def app_runner(
    app: tornado.web.Application,
    *,
    sweep: bool = False,
    sweepers: list[Sweeper] | None = None,
) -> Runner:
    """A runner serving `app`, optionally with its sweeper (kept in `sweepers`)."""

    async def run(stop: asyncio.Event, ready: Callable[[int], None]) -> None:
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets(sockets)
        sweeper = start_sweeper(app) if sweep else None
        if sweeper is not None and sweepers is not None:
            sweepers.append(sweeper)
        try:
            ready(sockets[0].getsockname()[1])
            await stop.wait()
        finally:
            server.stop()
            if sweeper is not None:
                await sweeper.close()
            await server.close_all_connections()

    return run
