"""The demo's routes: the public route contract of `satchel.testing.routes`.

Each framework module binds these to its own routing; the behaviour (and so
the adapter conformance suite) is identical on every framework and store.
This module only re-exports the contract, under the names the framework
modules use.
"""

from __future__ import annotations

from satchel.testing.routes import (
    HTML,
    JSON,
    REDIRECT_LOCATION,
    STREAM_CHUNKS,
    TEXT,
    Reply,
    counter,
    flash,
    get,
    index,
    list_cookies,
    login,
    logout,
    put,
    raise_redirect,
    remove,
    set_if_nil,
    set_plain_cookie,
    show_flash,
    start_stream,
    websocket_handshake,
    whoami,
)

__all__ = [
    "HTML",
    "JSON",
    "REDIRECT_LOCATION",
    "STREAM_CHUNKS",
    "TEXT",
    "Reply",
    "counter",
    "flash",
    "get",
    "index",
    "list_cookies",
    "login",
    "logout",
    "put",
    "raise_redirect",
    "remove",
    "set_if_nil",
    "set_plain_cookie",
    "show_flash",
    "start_stream",
    "websocket_handshake",
    "whoami",
]
