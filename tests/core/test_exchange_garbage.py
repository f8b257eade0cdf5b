"""A finished request leaves no reference cycle behind.

Each request's objects (exchange, session view, record, the session's data)
must be freed as soon as the adapter lets go of them, not later by the
garbage collector: a cycle per request makes the collector run often in a
busy server and walk everything young each time.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import pytest

from satchel import (
    Keyring,
    MemoryStore,
    Session,
    SessionProtocol,
    SessionTooLarge,
    Settings,
    StorageKind,
    run_ops,
)
from satchel.testing import ManualClock

from ..conftest import SECRET

Handler = Callable[[Session], Any] | None

HANDLERS: dict[str, Handler] = {
    "untouched": None,
    "read only": lambda session: session.get("user"),
    "changed": lambda session: session.__setitem__("visits", session.get("visits", 0) + 1),
    "nested change": lambda session: session["cart"].append({"sku": "A-1", "qty": 1}),
    "flash": lambda session: session.flash("notice", "saved"),
    "regenerate": lambda session: session.regenerate(),
    "invalidate": lambda session: session.invalidate(),
}


def request(
    protocol: SessionProtocol, store: MemoryStore, header: str | None, now: float, handler: Handler
) -> tuple[str, ...]:
    exchange = protocol.begin(header, now=now)
    if handler is not None:
        exchange.open()
        run_ops(exchange, store)
        handler(exchange.session)
    exchange.finish()
    run_ops(exchange, store)
    return exchange.outcome.set_cookie_headers


def unreachable_after(one_request: Callable[[], object], clock: ManualClock) -> int:
    """How many objects 20 requests leave for the collector (with it turned off)."""
    one_request()  # warm any per-thread caches
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(20):
            clock.advance(1)
            one_request()
        return gc.collect()
    finally:
        if enabled:
            gc.enable()


@pytest.mark.parametrize("storage", ["cookie", "server"])
@pytest.mark.parametrize("name", list(HANDLERS))
def test_a_finished_request_leaves_nothing_for_the_collector(
    storage: StorageKind, name: str
) -> None:
    clock = ManualClock()
    protocol = SessionProtocol(Settings(keyring=Keyring([SECRET])), storage=storage)
    store = MemoryStore()
    set_cookies = request(
        protocol,
        store,
        None,
        clock(),
        lambda session: session.update({"user": "ada", "cart": [{"sku": "B-2", "qty": 2}]}),
    )
    header = "; ".join(value.split(";", 1)[0] for value in set_cookies) + "; theme=dark"
    handler = HANDLERS[name]
    assert unreachable_after(lambda: request(protocol, store, header, clock(), handler), clock) == 0


def abandoned(protocol: SessionProtocol, header: str, now: float) -> None:
    # The handler raised: the adapter abandons the exchange.
    exchange = protocol.begin(header, now=now)
    exchange.open()
    run_ops(exchange, MemoryStore())
    exchange.session["visits"] = 1
    exchange.abandon()


def too_large(protocol: SessionProtocol, header: str, now: float) -> None:
    exchange = protocol.begin(None, now=now)
    exchange.open()
    exchange.session["blob"] = "x" * 8000
    with pytest.raises(SessionTooLarge):
        exchange.finish()


# A store failure is left out: the StoreError's traceback holds the op
# loop's frame, which holds the error again, a cycle of Python's own.
FAILURES: dict[str, tuple[StorageKind, Callable[[SessionProtocol, str, float], None]]] = {
    "abandoned, cookie": ("cookie", abandoned),
    "abandoned, server": ("server", abandoned),
    "too large for the cookie": ("cookie", too_large),
}


@pytest.mark.parametrize("name", list(FAILURES))
def test_a_failed_request_leaves_nothing_for_the_collector(name: str) -> None:
    storage, fail = FAILURES[name]
    clock = ManualClock()
    protocol = SessionProtocol(Settings(keyring=Keyring([SECRET])), storage=storage)
    store = MemoryStore()
    set_cookies = request(protocol, store, None, clock(), lambda session: session.update(a=1))
    header = "; ".join(value.split(";", 1)[0] for value in set_cookies)
    assert unreachable_after(lambda: fail(protocol, header, clock()), clock) == 0
