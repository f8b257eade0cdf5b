"""Running WSGI applications on a real threaded server for the WSGI adapter's tests."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from wsgiref.types import WSGIApplication
from wsgiref.validate import validator

from satchel import Keyring, Settings
from satchel_demo import DemoConfig
from satchel_demo._wsgi import make_server

SECRET = "wsgi adapter tests secret 0001"


def make_settings(**changes: object) -> Settings:
    """The settings every WSGI test runs on: plain HTTP, a short idle timeout."""
    settings = Settings(
        keyring=Keyring([SECRET]),
        secure=False,
        idle_timeout=60,
        touch_interval=6,
    )
    return settings.evolve(**changes) if changes else settings


@contextlib.contextmanager
def serving(app: WSGIApplication, *, validate: bool = True) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 on a free port with the demo's threaded
    ``wsgiref`` server; yield its base URL; stop it.

    With `validate`, the app is wrapped in ``wsgiref.validate.validator``, so
    every response is also checked against PEP 3333.
    """
    config = DemoConfig(settings=make_settings(), port=0)
    server = make_server(config, validator(app) if validate else app, quiet=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
