"""A Flask application with satchel sessions: login, logout with a flash, a counter.

Run it with ``SATCHEL_SECRET="$(python -m satchel keygen)" python examples/flask_app.py``.
"""

from __future__ import annotations

import os

from flask import Flask, flash, get_flashed_messages, redirect, session
from werkzeug.wrappers import Response

import satchel_flask
from satchel import Keyring, MemoryStore, Settings

app = Flask(__name__)
sessions = satchel_flask.Satchel(
    app,
    settings=Settings(keyring=Keyring([os.environ["SATCHEL_SECRET"]])),
    store=MemoryStore(),
    timeout_location="/counter",  # where a timed-out session is sent
)


@app.get("/login/<name>")
def login(name: str) -> str:
    """Log `name` in."""
    satchel_flask.regenerate()  # a new session ID on every login
    session["user"] = name
    return f"Logged in as {name}"


@app.get("/logout")
def logout() -> Response:
    """Log out, say so on the next page, and go there."""
    satchel_flask.invalidate()  # record deleted, cookie expired
    flash("You are logged out")  # carried by the new, otherwise empty session
    return redirect("/counter")


@app.get("/counter")
def counter() -> str:
    """Count this visitor's visits; show any flashed message first."""
    session["count"] = session.get("count", 0) + 1
    notes = "".join(f"{message}. " for message in get_flashed_messages())
    return f"{notes}{session.get('user', 'Anonymous')} has visited {session['count']} time(s)"


@app.get("/health")
def health() -> str:
    """A health check."""
    return "ok"  # never touches the session: no store operation, no cookie


if __name__ == "__main__":
    try:
        app.run("127.0.0.1", 8000)
    finally:
        sessions.close()
