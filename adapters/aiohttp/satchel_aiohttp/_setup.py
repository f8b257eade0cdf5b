"""`setup`: validate the configuration once and install the adapter on an app."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from satchel import (
    AdapterOptions,
    AsyncSessionRuntime,
    AsyncStore,
    ConfigurationError,
    Session,
    Settings,
)

from ._middleware import (
    LOGGER,
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
    # Every adapter takes the same options; the core checks them and builds
    # the protocol once.
    options = AdapterOptions[AsyncStore](
        settings=settings,
        store=store,
        flavour="async",
        framework="aiohttp",
        clock=clock,
        on_timeout=on_timeout,
        timeout_location=timeout_location,
        on_store_error=on_store_error,
        sweep_interval=sweep_interval,
    )
    if _ADAPTER_KEY in app:
        raise ConfigurationError("app: satchel_aiohttp.setup() was already called on this app")

    runtime = AsyncSessionRuntime(options, LOGGER)
    adapter = Adapter(
        runtime=runtime,
        on_timeout=on_timeout if on_timeout is not None else _redirect_to(timeout_location),
        on_store_error=on_store_error,
    )
    app[_ADAPTER_KEY] = adapter
    app.middlewares.insert(0, make_middleware(adapter))
    app.on_response_prepare.append(on_response_prepare)
    if runtime.sweep_interval is not None:
        app.cleanup_ctx.append(sweep_context(runtime, runtime.sweep_interval))


def runtime_of(app: web.Application) -> AsyncSessionRuntime:
    """The session runtime `setup` gave `app`: its store and protocol, for
    work outside any request, such as ending every session of an owner
    (``await satchel_aiohttp.runtime_of(app).end_sessions(owner)``).

    Raises:
        ConfigurationError: `setup` was not called on `app`.

    """
    adapter = app.get(_ADAPTER_KEY)
    if adapter is None:
        raise ConfigurationError("app: satchel_aiohttp.setup() was not called on this app")
    runtime: AsyncSessionRuntime = adapter.runtime
    return runtime
