"""Serving Flask applications on real servers for the Flask adapter's tests."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from flask import Flask

from satchel import Keyring, Settings

from ..wsgi.helpers import serving as serving_wsgi

SECRET = "flask adapter tests secret 0001"


def make_settings(**changes: object) -> Settings:
    """The settings every Flask test runs on: plain HTTP, a short idle timeout."""
    settings = Settings(
        keyring=Keyring([SECRET]),
        secure=False,
        idle_timeout=60,
        touch_interval=6,
    )
    return settings.evolve(**changes) if changes else settings


def serving(app: Flask) -> contextlib.AbstractContextManager[str]:
    """Serve `app` on 127.0.0.1 on a free port with the demo's threaded
    ``wsgiref`` server (the WSGI tests' own helper, without PEP 3333's
    validator, which Flask's responses need not pass through); yield its
    base URL; stop it.
    """
    return serving_wsgi(app, validate=False)


@contextlib.contextmanager
def serving_with_waitress(app: Flask) -> Iterator[str]:
    """Serve `app` with waitress on 127.0.0.1 on a free port; yield its base URL; stop it."""
    import waitress  # type: ignore[import-untyped]

    # waitress's defaults (4 threads): requests beyond them queue, as in production.
    server: Any = waitress.create_server(app, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def close_everything() -> None:
        # In the server's own loop thread: with its map empty, the loop ends.
        for channel in list(server._map.values()):
            channel.close()

    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # OSError: the loop has ended already and closed its trigger with it.
        with contextlib.suppress(OSError):
            server.trigger.pull_trigger(close_everything)
        thread.join(5)
        server.task_dispatcher.shutdown()
