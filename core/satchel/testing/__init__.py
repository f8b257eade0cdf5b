"""Test helpers for satchel users and for authors of adapters and store drivers.

- `ManualClock` makes timeouts testable without sleeping.
- `Browser` keeps cookies and drives the core with no HTTP.
- `StoreConformance` and `AsyncStoreConformance` are the pytest suites every
  store driver passes.
- `AdapterConformance` is the HTTP-level suite every framework adapter passes,
  with `HttpClient`, a real cookie-keeping HTTP client.

This module imports pytest; install ``satchel[testing]`` to use it.
"""

from __future__ import annotations

from ._adapter_conformance import AdapterConformance, LiveServer
from ._browser import Browser, Response, parse_set_cookie
from ._clock import ManualClock
from ._conformance import AsyncStoreConformance, RunCoroutine, StoreConformance
from ._http import HttpClient, HttpResponse

__all__ = [
    "AdapterConformance",
    "AsyncStoreConformance",
    "Browser",
    "HttpClient",
    "HttpResponse",
    "LiveServer",
    "ManualClock",
    "Response",
    "RunCoroutine",
    "StoreConformance",
    "parse_set_cookie",
]
