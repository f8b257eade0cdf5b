"""Serve an ASGI application on a real socket, in a thread with its own loop.

The conformance suite and `HttpClient` are synchronous, so the server runs
beside the test rather than in the test's event loop: uvicorn (its
``Server``, which skips signal handlers off the main thread) or hypercorn
(its ``serve`` with a shutdown trigger), both with the lifespan on.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any, Literal

ServerName = Literal["uvicorn", "hypercorn"]


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def _until_listening(port: int, serving: asyncio.Task[None]) -> None:
    """Return once the server answers on `port` (or has stopped)."""
    while not serving.done():
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        writer.close()
        await writer.wait_closed()
        return


class LiveASGI:
    """`app` served on 127.0.0.1 at a free port by `server` until `stop`."""

    def __init__(self, app: Any, server: ServerName = "uvicorn") -> None:
        self.app = app
        self.server_name = server
        sock = _listening_socket()
        self.port: int = sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._uvicorn: Any = None
        target = self._run_uvicorn if server == "uvicorn" else self._run_hypercorn
        self._thread = threading.Thread(target=target, args=(sock,), name=f"{server}-server")
        self._thread.start()
        self._ready.wait(30)
        if self._failure is not None:
            raise self._failure
        if not self._ready.is_set():
            raise RuntimeError(f"{server} did not start")

    def _run_uvicorn(self, sock: socket.socket) -> None:
        import uvicorn

        config = uvicorn.Config(
            self.app, lifespan="on", log_level="warning", access_log=False, ws="websockets-sansio"
        )
        server = self._uvicorn = uvicorn.Server(config)

        async def main() -> None:
            serving = asyncio.create_task(server.serve(sockets=[sock]))
            await _until_listening(self.port, serving)
            self._ready.set()
            await serving

        try:
            asyncio.run(main())
        except BaseException as error:
            self._failure = error
        finally:
            self._ready.set()
            sock.close()

    def _run_hypercorn(self, sock: socket.socket) -> None:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"fd://{sock.detach()}"]
        config.accesslog = None
        config.loglevel = "WARNING"
        config.graceful_timeout = 2

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            serving = asyncio.create_task(serve(self.app, config, shutdown_trigger=self._stop.wait))
            await _until_listening(self.port, serving)
            self._ready.set()
            await serving

        try:
            asyncio.run(main())
        except BaseException as error:
            self._failure = error
        finally:
            self._ready.set()

    def stop(self) -> None:
        """Shut the server down (the lifespan's shut-down runs) and wait for it."""
        if not self._thread.is_alive():
            return
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        elif self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        if self._failure is not None:
            raise self._failure
