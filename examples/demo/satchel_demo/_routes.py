"""The demo's routes, written once against `satchel.Session`.

Each framework module binds these to its own routing; the behaviour (and so
the adapter conformance suite) is identical on every framework and store.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping

import attrs

from satchel import Session

__all__ = [
    "STREAM_CHUNKS",
    "Reply",
    "counter",
    "flash",
    "get",
    "index",
    "list_cookies",
    "login",
    "logout",
    "put",
    "remove",
    "set_if_nil",
    "show_flash",
    "start_stream",
    "whoami",
]

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
HTML = "text/html; charset=utf-8"
STREAM_CHUNKS = 5


@attrs.frozen
class Reply:
    """A framework-neutral response: body, content type, status."""

    body: str
    content_type: str = TEXT
    status: int = 200


def login(session: Session, user_id: str) -> Reply:
    """Set the user, with a new session ID (as every login should)."""
    session.regenerate()
    session["user"] = user_id
    return Reply(f"User set to: {user_id}")


def whoami(session: Session) -> Reply:
    """The current user, or an empty body."""
    return Reply(str(session.get("user", "")))


def remove(session: Session) -> Reply:
    """Remove the user; keep the rest of the session."""
    session.pop("user", None)
    return Reply("User removed")


def set_if_nil(session: Session, user_id: str) -> Reply:
    """Set the user only if none is set; answer with the user."""
    return Reply(str(session.setdefault("user", user_id)))


def logout(session: Session) -> Reply:
    """End the session: record deleted, cookie expired."""
    session.invalidate()
    return Reply("Logged out")


def put(session: Session, key: str, value: str) -> Reply:
    """Set one session key."""
    session[key] = value
    return Reply(f"{key} set")


def get(session: Session) -> Reply:
    """The whole session as JSON."""
    return Reply(json.dumps(dict(session), sort_keys=True), JSON)


def counter(session: Session) -> Reply:
    """Increment a counter kept in the session."""
    session["counter"] = int(session.get("counter", 0)) + 1
    return Reply(str(session["counter"]))


def flash(session: Session, message: str) -> Reply:
    """Flash a message for the next request."""
    session.flash("message", message)
    return Reply("Flashed")


def show_flash(session: Session) -> Reply:
    """The message flashed by the previous request, once."""
    return Reply(str(session.flashed.get("message", "")))


def list_cookies(cookies: Mapping[str, str]) -> Reply:
    """The request's cookies as JSON (the session is never opened)."""
    return Reply(json.dumps(dict(cookies), sort_keys=True), JSON)


def start_stream(session: Session) -> list[str]:
    """Mark the session as streamed; the chunks of the streamed body."""
    session["streamed"] = True
    return [f"chunk {index}\n" for index in range(STREAM_CHUNKS)]


def index(session: Session) -> Reply:
    """A small HTML page showing the user and any flash message."""
    user = html.escape(str(session.get("user", ""))) or "nobody"
    message = html.escape(str(session.flashed.get("message", "")))
    flash_html = f'<p class="flash">{message}</p>' if message else ""
    page = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>satchel demo</title></head>
<body>
<h1>satchel demo</h1>
{flash_html}
<p>Logged in as: <strong>{user}</strong></p>
<ul>
  <li><a href="/login/ada">/login/ada</a></li>
  <li><a href="/whoami">/whoami</a></li>
  <li><a href="/counter">/counter</a></li>
  <li><a href="/flash/hello">/flash/hello</a> then <a href="/">/</a></li>
  <li><a href="/get">/get</a></li>
  <li><a href="/logout">/logout</a></li>
</ul>
</body>
</html>
"""
    return Reply(page, HTML)
