"""`setup`: validate the configuration once and install the adapter on an app."""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable

from aiohttp import web

from satchel import AsyncStore, ConfigurationError, Session, SessionProtocol, Settings

from ._middleware import (
    Adapter,
    StoreErrorHook,
    TimeoutHook,
    make_middleware,
    on_response_prepare,
)
from ._sweep import sweep_context

__all__ = ["setup"]

_ADAPTER_KEY = web.AppKey("adapter", Adapter)


def _redirect_to(location: str) -> TimeoutHook:
    async def redirect_on_timeout(request: web.Request, session: Session) -> None:
        raise web.HTTPFound(location)

    return redirect_on_timeout


def _check_store(store: object) -> None:
    execute = getattr(store, "execute", None)
    if not inspect.iscoroutinefunction(execute):
        raise ConfigurationError(
            "store: aiohttp needs an asynchronous store, whose execute() is a coroutine "
            f"function (such as satchel.AsyncMemoryStore); got {type(store).__name__}"
        )


def _check_callable(name: str, value: object) -> None:
    if not callable(value):
        raise ConfigurationError(f"{name}: must be callable, got {type(value).__name__}")


def _check_location(location: object) -> str:
    if (
        not isinstance(location, str)
        or not location
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in location)
    ):
        raise ConfigurationError(
            f"timeout_location: must be a non-empty URL without control characters, "
            f"got {location!r}"
        )
    return location


def _check_interval(interval: object) -> float | None:
    if interval is None:
        return None
    if (
        isinstance(interval, bool)
        or not isinstance(interval, int | float)
        or not math.isfinite(interval)
        or interval <= 0
    ):
        raise ConfigurationError(
            f"sweep_interval: must be a positive number of seconds or None, got {interval!r}"
        )
    return float(interval)


def setup(
    app: web.Application,
    settings: Settings,
    *,
    store: AsyncStore | None = None,
    clock: Callable[[], float] = time.time,
    on_timeout: TimeoutHook | None = None,
    timeout_location: str = "/",
    on_store_error: StoreErrorHook | None = None,
    sweep_interval: float | None = 60.0,
) -> None:
    """Give every request of `app` a lazily loaded session.

    Installs the session middleware (outermost, so other middlewares can use
    `get_session` and every response they make passes through it), an
    ``on_response_prepare`` handler for streamed and websocket responses and,
    for a store with a ``sweep(now)`` method, a periodic sweep tied to the
    app's start-up and clean-up. Call it once per application, before it
    starts.

    Args:
        app: the application.
        settings: the session settings.
        store: an asynchronous store (``execute`` is a coroutine function),
            such as `satchel.AsyncMemoryStore`; ``None`` keeps the whole
            session sealed in the cookie.
        clock: the time in POSIX seconds; pass a `satchel.testing.ManualClock`
            in tests.
        on_timeout: called when the session a request presented ended by
            idle or absolute timeout (see `TimeoutHook`). By default the
            request is redirected (302) to `timeout_location`.
        timeout_location: where the default `on_timeout` redirects.
        on_store_error: builds the response when the store fails (see
            `StoreErrorHook`). By default a plain-text 503 with no cookie.
        sweep_interval: seconds between sweeps of expired records, or
            ``None`` for none. Ignored for stores without ``sweep``.

    Raises:
        satchel.ConfigurationError: a bad argument (the message names it), a
            synchronous store, or `setup` called twice on `app`.

    """
    if not isinstance(settings, Settings):
        raise ConfigurationError(
            f"settings: expected a satchel.Settings, got {type(settings).__name__}"
        )
    if store is not None:
        _check_store(store)
    _check_callable("clock", clock)
    if on_timeout is not None:
        _check_callable("on_timeout", on_timeout)
    location = _check_location(timeout_location)
    if on_store_error is not None:
        _check_callable("on_store_error", on_store_error)
    interval = _check_interval(sweep_interval)
    if _ADAPTER_KEY in app:
        raise ConfigurationError("app: satchel_aiohttp.setup() was already called on this app")

    adapter = Adapter(
        protocol=SessionProtocol(settings, storage="cookie" if store is None else "server"),
        store=store,
        clock=clock,
        on_timeout=on_timeout if on_timeout is not None else _redirect_to(location),
        on_store_error=on_store_error,
    )
    app[_ADAPTER_KEY] = adapter
    app.middlewares.insert(0, make_middleware(adapter))
    app.on_response_prepare.append(on_response_prepare)
    sweep = getattr(store, "sweep", None)
    if interval is not None and callable(sweep):
        app.cleanup_ctx.append(sweep_context(sweep, clock, interval))
