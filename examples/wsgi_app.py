"""A plain WSGI application with satchel sessions: a login route and a counter.

Run it with ``SATCHEL_SECRET="$(python -m satchel keygen)" python examples/wsgi_app.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from wsgiref.simple_server import make_server
from wsgiref.types import StartResponse, WSGIEnvironment

from satchel import Keyring, MemoryStore, Settings
from satchel_wsgi import SessionMiddleware, get_session


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Answer ``/login/<name>`` and ``/counter``; everything else is 404."""
    path = environ.get("PATH_INFO", "/")
    if path.startswith("/login/"):
        session = get_session(environ)
        session.regenerate()  # a new session ID on every login
        session["user"] = path.removeprefix("/login/")
        body = f"Logged in as {session['user']}"
    elif path == "/counter":
        session = get_session(environ)
        session["count"] = session.get("count", 0) + 1
        body = f"{session.get('user', 'Anonymous')} has visited {session['count']} time(s)"
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not found"]
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [body.encode("utf-8")]


settings = Settings(keyring=Keyring([os.environ["SATCHEL_SECRET"]]))
application = SessionMiddleware(app, settings, store=MemoryStore())

if __name__ == "__main__":
    with make_server("127.0.0.1", 8000, application) as server:
        print("Serving on http://127.0.0.1:8000/")
        try:
            server.serve_forever()
        finally:
            application.close()
