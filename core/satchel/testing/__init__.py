"""Test helpers for satchel users and for authors of adapters and store drivers.

- `ManualClock` makes timeouts testable without sleeping.
- `Browser` keeps cookies and drives the core with no HTTP.
- `StoreConformance` and `AsyncStoreConformance` are the pytest suites every
  store driver passes.
- `AdapterConformance` is the HTTP-level suite every framework adapter passes,
  with `HttpClient`, a real cookie-keeping HTTP client (websocket handshakes
  included), and `LiveServer`, what the suite needs to know of the server.
- `routes` is the route contract a server mounts for `AdapterConformance`:
  one function per route, written against `satchel.Session`.
- `SwitchableStore` and `AsyncSwitchableStore` wrap a store and fail on
  demand, for the store-failure checks.

The conformance suites import pytest when first used (install
``satchel[testing]``); `routes`, the stores, the clients and the clock import
no test runner and no web framework.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import routes
from ._browser import Browser, Response, parse_set_cookie
from ._clock import ManualClock
from ._http import HttpClient, HttpResponse
from ._live import LiveServer
from ._switchable import AsyncSwitchableStore, SwitchableStore

if TYPE_CHECKING:
    from ._adapter_conformance import AdapterConformance
    from ._conformance import AsyncStoreConformance, RunCoroutine, StoreConformance

__all__ = [
    "AdapterConformance",
    "AsyncStoreConformance",
    "AsyncSwitchableStore",
    "Browser",
    "HttpClient",
    "HttpResponse",
    "LiveServer",
    "ManualClock",
    "Response",
    "RunCoroutine",
    "StoreConformance",
    "SwitchableStore",
    "parse_set_cookie",
    "routes",
]

# The suites are pytest classes: import pytest only when one is asked for, so
# a server mounting `routes` (or a demo app) needs no test runner installed.
_PYTEST_NAMES = {
    "AdapterConformance": "._adapter_conformance",
    "AsyncStoreConformance": "._conformance",
    "RunCoroutine": "._conformance",
    "StoreConformance": "._conformance",
}


def __getattr__(name: str) -> Any:
    module = _PYTEST_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
