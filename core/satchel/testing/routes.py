"""The route contract: what a server must answer for `AdapterConformance`.

`AdapterConformance` drives any running server by URL. The server mounts the
routes below on its framework; each route's logic is one function here,
written against `satchel.Session` alone, so a framework's binding only reads
the path parameters, calls the function with the request's session, and
turns the `Reply` into a response. Every route answers ``GET``.

| path | function | what it must do |
| --- | --- | --- |
| ``/`` | `index` | an HTML page: the user (escaped), any flash |
| ``/login/{user}`` | `login` | regenerate the ID tied to the user as owner, set the user |
| ``/whoami`` | `whoami_anywhere` (5) | the user, or an empty body |
| ``/remove`` | `remove` | remove the user, keep the rest |
| ``/set-if-nil/{user}`` | `set_if_nil` | set the user if unset; answer it |
| ``/logout`` | `logout` | invalidate the session |
| ``/put/{key}/{value}`` | `put` | set one key |
| ``/get`` | `get` | the session as JSON |
| ``/counter`` | `counter` | increment a counter; answer it |
| ``/flash/{message}`` | `flash` | flash a message for the next request |
| ``/show-flash`` | `show_flash` | the flashed message, once |
| ``/cookie/{name}/{value}`` | `set_plain_cookie` | set a plain cookie (1) |
| ``/cookies`` | `list_cookies` | the request's cookies as JSON (2) |
| ``/stream`` | `start_stream` | a streamed body, one flush per chunk |
| ``/raise-redirect/{user}`` | `raise_redirect` | set the user, raise a redirect (3) |
| ``/ws`` | `websocket_handshake` | a websocket; see the function (4) |
| ``/sessions`` | `sessions` (6) | the owner's sessions as JSON |
| ``/logout-everywhere`` | `logout_everywhere` | end the owner's other sessions |

(1) Through the adapter, with ``Path=/``, ``HttpOnly``, ``Max-Age=3600``;
400 if the adapter refuses it; the session is never opened. (2) The session
is never opened. (3) The framework's redirect *exception* (302 or 303) to the
location the function returns; a plain redirect where the framework has no
such exception. (4) Only for frameworks with websockets (opt-in with
``AdapterConformance.websockets``): the handshake reads and changes the
session before accepting, so the ``101`` carries the session cookie. (5) Read
by a helper that takes no request (`current_user`, through
``satchel.current_session()``); asynchronous frameworks await
`load_whoami_anywhere` instead. An adapter that binds no
`satchel.RequestContext` answers with `whoami` (the session passed in). (6)
Through ``satchel.owner_sessions()``; asynchronous frameworks await
`load_sessions` instead; an adapter that binds no request context answers
with `sessions_of` (or `load_sessions_of`), passing its runtime. With
cookie storage, or a store without an owner index, ``/sessions`` and
``/logout-everywhere`` answer 409; without a login, 401.

The hooks the suite needs beyond the routes are fields of `LiveServer`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Final

import attrs

from .._adapter import AsyncSessionRuntime, SessionRuntime
from .._context import current_session, load_current_session, load_owner_sessions, owner_sessions
from .._errors import OwnerIndexUnavailable
from .._owners import SessionInfo
from .._session import Session

__all__ = [
    "HTML",
    "JSON",
    "REDIRECT_LOCATION",
    "STREAM_CHUNKS",
    "TEXT",
    "Reply",
    "counter",
    "current_user",
    "flash",
    "get",
    "index",
    "list_cookies",
    "load_current_user",
    "load_sessions",
    "load_sessions_of",
    "load_whoami_anywhere",
    "login",
    "logout",
    "logout_everywhere",
    "put",
    "raise_redirect",
    "remove",
    "sessions",
    "sessions_of",
    "set_if_nil",
    "set_plain_cookie",
    "show_flash",
    "start_stream",
    "websocket_handshake",
    "whoami",
    "whoami_anywhere",
]

TEXT: Final = "text/plain; charset=utf-8"
"""The content type of plain-text replies."""

JSON: Final = "application/json"
"""The content type of JSON replies."""

HTML: Final = "text/html; charset=utf-8"
"""The content type of the index page."""

STREAM_CHUNKS: Final = 5
"""How many chunks ``/stream`` sends."""

REDIRECT_LOCATION: Final = "/whoami"
"""Where ``/raise-redirect/{user}`` redirects."""


@attrs.frozen
class Reply:
    """A framework-neutral response: body, content type, status.

    Attributes:
        body: the body, encoded as UTF-8 when sent.
        content_type: the ``Content-Type`` header.
        status: the status code.
    """

    body: str
    content_type: str = TEXT
    status: int = 200


def login(session: Session, user_id: str) -> Reply:
    """``/login/{user}``: set the user, with a new session ID tied to the user
    as its owner (as every login should); 400 for a user that cannot be an
    owner (empty, over 128 UTF-8 bytes, or holding control characters).
    """
    try:
        session.regenerate(owner=user_id)
    except (TypeError, ValueError) as error:
        return Reply(f"Bad user: {error}", status=400)
    session["user"] = user_id
    return Reply(f"User set to: {user_id}")


_NO_INDEX: Final = 409
_NOT_LOGGED_IN: Final = Reply("Not logged in", status=401)


def _listed(sessions: list[SessionInfo]) -> Reply:
    listed = [
        {
            "handle": info.handle,
            "created_at": info.created_at,
            "last_seen": info.last_seen,
            "label": info.label,
            "current": info.current,
        }
        for info in sessions
    ]
    return Reply(json.dumps(listed), JSON)


def sessions() -> Reply:
    """``/sessions`` on a synchronous adapter: the live sessions of the
    logged-in user (the session's owner) as a JSON list, most recently seen
    first, through ``satchel.owner_sessions()``.
    """
    if current_session().owner is None:
        return _NOT_LOGGED_IN
    try:
        return _listed(owner_sessions())
    except OwnerIndexUnavailable as error:
        return Reply(str(error), status=_NO_INDEX)


async def load_sessions() -> Reply:
    """``/sessions`` on an asynchronous adapter, through
    ``satchel.load_owner_sessions()``.
    """
    if (await load_current_session()).owner is None:
        return _NOT_LOGGED_IN
    try:
        return _listed(await load_owner_sessions())
    except OwnerIndexUnavailable as error:
        return Reply(str(error), status=_NO_INDEX)


def sessions_of(runtime: SessionRuntime, session: Session) -> Reply:
    """``/sessions`` for an adapter that binds no request context: the
    runtime and the session passed in (``runtime.list_sessions``).
    """
    owner = session.owner
    if owner is None:
        return _NOT_LOGGED_IN
    try:
        return _listed(runtime.list_sessions(owner, current=session.handle))
    except OwnerIndexUnavailable as error:
        return Reply(str(error), status=_NO_INDEX)


async def load_sessions_of(runtime: AsyncSessionRuntime, session: Session) -> Reply:
    """`sessions_of` for an asynchronous runtime."""
    owner = session.owner
    if owner is None:
        return _NOT_LOGGED_IN
    try:
        return _listed(await runtime.list_sessions(owner, current=session.handle))
    except OwnerIndexUnavailable as error:
        return Reply(str(error), status=_NO_INDEX)


def logout_everywhere(session: Session) -> Reply:
    """``/logout-everywhere``: end every other session of the logged-in user
    when this request saves ("sign out of all other devices").
    """
    if session.owner is None:
        return _NOT_LOGGED_IN
    try:
        session.end_other_sessions()
    except OwnerIndexUnavailable as error:
        return Reply(str(error), status=_NO_INDEX)
    return Reply("Other sessions ended")


def whoami(session: Session) -> Reply:
    """``/whoami``: the current user, or an empty body."""
    return Reply(str(session.get("user", "")))


def current_user() -> str:
    """The user of the request being served, or ``""``: a helper deep in the
    call stack, with no request passed down (``satchel.current_session()``;
    synchronous adapters, or once the session is loaded).
    """
    return str(current_session().get("user", ""))


async def load_current_user() -> str:
    """`current_user` for asynchronous adapters: awaits
    ``satchel.load_current_session()``, which loads the session on first use.
    """
    return str((await load_current_session()).get("user", ""))


def whoami_anywhere() -> Reply:
    """``/whoami`` on a synchronous adapter: the user, read by `current_user`."""
    return Reply(current_user())


async def load_whoami_anywhere() -> Reply:
    """``/whoami`` on an asynchronous adapter: the user, read by `load_current_user`."""
    return Reply(await load_current_user())


def remove(session: Session) -> Reply:
    """``/remove``: remove the user; keep the rest of the session."""
    session.pop("user", None)
    return Reply("User removed")


def set_if_nil(session: Session, user_id: str) -> Reply:
    """``/set-if-nil/{user}``: set the user only if none is set; answer with the user."""
    return Reply(str(session.setdefault("user", user_id)))


def logout(session: Session) -> Reply:
    """``/logout``: end the session (record deleted, cookie expired)."""
    session.invalidate()
    return Reply("Logged out")


def put(session: Session, key: str, value: str) -> Reply:
    """``/put/{key}/{value}``: set one session key."""
    session[key] = value
    return Reply(f"{key} set")


def get(session: Session) -> Reply:
    """``/get``: the whole session as JSON."""
    return Reply(json.dumps(dict(session), sort_keys=True), JSON)


def counter(session: Session) -> Reply:
    """``/counter``: increment a counter kept in the session; answer it."""
    session["counter"] = int(session.get("counter", 0)) + 1
    return Reply(str(session["counter"]))


def flash(session: Session, message: str) -> Reply:
    """``/flash/{message}``: flash a message for the next request."""
    session.flash("message", message)
    return Reply("Flashed")


def show_flash(session: Session) -> Reply:
    """``/show-flash``: the message flashed by the previous request, once."""
    return Reply(str(session.flashed.get("message", "")))


def set_plain_cookie(name: str) -> Reply:
    """``/cookie/{name}/{value}``: the reply once the adapter has set the plain
    cookie `name` with ``Path=/``, ``HttpOnly``, ``Max-Age=3600`` and the session
    cookie's ``Secure`` (the session stays closed).
    """
    return Reply(f"Cookie {name} set")


def list_cookies(cookies: Mapping[str, str]) -> Reply:
    """``/cookies``: the request's cookies as JSON (the session is never opened)."""
    return Reply(json.dumps(dict(cookies), sort_keys=True), JSON)


def start_stream(session: Session) -> list[str]:
    """``/stream``: mark the session as streamed; the chunks of the streamed
    body (plain text), each to be flushed on its own.
    """
    session["streamed"] = True
    return [f"chunk {index}\n" for index in range(STREAM_CHUNKS)]


def raise_redirect(session: Session, user_id: str) -> str:
    """``/raise-redirect/{user}``: set the user; the location of the redirect
    the route then raises as the framework's exception (aiohttp's
    ``HTTPFound``, Flask's ``abort(redirect(...))``, Starlette's
    ``HTTPException`` with a ``Location`` header, Tornado's status and
    ``Location`` then ``tornado.web.Finish``), so the adapter must save the
    change and put its cookie on that redirect.
    """
    session["user"] = user_id
    return REDIRECT_LOCATION


def websocket_handshake(session: Session) -> str:
    """``/ws``, during the handshake: count the handshake in the session and
    note who was logged in; the text to send once connected (the user).

    The session changes, so the ``101`` that accepts the websocket must
    carry its cookie.
    """
    user = str(session.get("user", ""))
    session["websocket_handshakes"] = int(session.get("websocket_handshakes", 0)) + 1
    session["websocket_user"] = user
    return user


def index(session: Session) -> Reply:
    """``/``: a small HTML page showing the user and any flash message."""
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
