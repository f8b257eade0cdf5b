"""The adapter's configuration, built once and kept in the Application settings."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final, TypeAlias, final

import tornado.web

from satchel import (
    AdapterOptions,
    AsyncSessionRuntime,
    AsyncStore,
    ConfigurationError,
    Session,
    Settings,
    StoreError,
)

if TYPE_CHECKING:
    from ._handler import SessionMixin

__all__ = [
    "SETTINGS_KEY",
    "SessionConfig",
    "StoreErrorHook",
    "TimeoutHook",
    "logger",
]

logger = logging.getLogger("satchel.tornado")
"""Where the adapter logs store failures, unsavable sessions and sweeps."""

SETTINGS_KEY: Final = "satchel"
"""The `tornado.web.Application` setting that holds the `SessionConfig`:
``Application(routes, satchel=SessionConfig(...))``."""

TimeoutHook: TypeAlias = Callable[["SessionMixin", Session], Awaitable[None] | None]
"""``on_timeout(handler, session)``: answers a request whose session timed out.

`session` is the fresh session that replaces the ended one (write to it to,
say, flash a message). The hook writes, redirects or finishes the response;
the handler that asked for its session does not run further."""

StoreErrorHook: TypeAlias = Callable[["SessionMixin", StoreError], Awaitable[None] | None]
"""``on_store_error(handler, error)``: answers a request whose store failed.

The response has been cleared; the hook writes it (a status, a page, a
redirect). The session is unusable for the rest of the request."""


@final
class SessionConfig:
    """How every `SessionMixin` handler of one Application gets its session.

    Build it once at start-up and put it in the Application settings under
    ``"satchel"`` (`SETTINGS_KEY`)::

        app = tornado.web.Application(routes, satchel=SessionConfig(settings, store=store))

    Args:
        settings: the session settings (keyring, cookie attributes, timeouts).
        store: an asynchronous store (its ``execute`` is a coroutine function),
            such as `satchel.AsyncMemoryStore` or `satchel.AsyncSQLiteStore`,
            for server-side sessions; ``None`` keeps the whole session sealed
            in the cookie.
        clock: returns the current time in POSIX seconds; sessions are timed
            on it (a `satchel.testing.ManualClock` in tests).
        on_timeout: answers a request whose session ended by idle or absolute
            timeout (see `TimeoutHook`); by default a 302 redirect to
            `timeout_location`.
        timeout_location: where the default `on_timeout` redirects.
        on_store_error: answers a request whose store failed (see
            `StoreErrorHook`); by default a 503 with a short plain-text body
            and no ``Set-Cookie``. The failure is logged either way.
        sweep_interval: seconds between sweeps of expired records, for stores
            that have ``sweep(now)`` (see `start_sweeper`); ``None`` never sweeps.

    Raises:
        ConfigurationError: a setting is invalid; the message names it.

    """

    __slots__ = (
        "clock",
        "on_store_error",
        "on_timeout",
        "protocol",
        "runtime",
        "settings",
        "store",
        "sweep",
        "sweep_interval",
        "timeout_location",
    )

    def __init__(
        self,
        settings: Settings,
        *,
        store: AsyncStore | None = None,
        clock: Callable[[], float] = time.time,
        on_timeout: TimeoutHook | None = None,
        timeout_location: str = "/",
        on_store_error: StoreErrorHook | None = None,
        sweep_interval: float | None = 60.0,
    ) -> None:
        # Every adapter takes the same options; the core checks them and
        # builds the protocol once (keys and cookie attributes precomputed).
        options = AdapterOptions[AsyncStore](
            settings=settings,
            store=store,
            flavour="async",
            framework="Tornado",
            clock=clock,
            on_timeout=on_timeout,
            timeout_location=timeout_location,
            on_store_error=on_store_error,
            sweep_interval=sweep_interval,
        )
        self.settings = settings
        self.store = store
        self.clock = clock
        self.on_timeout = on_timeout
        self.timeout_location = timeout_location
        self.on_store_error = on_store_error
        self.sweep_interval = options.sweep_interval
        self.sweep = options.sweep
        """The store's ``sweep`` if it has one and `sweep_interval` is set, else ``None``."""
        self.protocol = options.protocol
        self.runtime = AsyncSessionRuntime(options, logger)
        """The core's adapter runtime: loads, saves (one session's in turn), logs, sweeps."""

    def __repr__(self) -> str:
        return (
            f"<SessionConfig storage={self.protocol.storage!r} store={self.store!r} "
            f"sweep_interval={self.sweep_interval!r}>"
        )


def config_of(source: tornado.web.Application | SessionConfig) -> SessionConfig:
    """The `SessionConfig` of an Application (or the config itself).

    Raises:
        ConfigurationError: the Application has no ``satchel`` setting.

    """
    if isinstance(source, SessionConfig):
        return source
    settings = getattr(source, "settings", None)
    config = settings.get(SETTINGS_KEY) if isinstance(settings, dict) else None
    if not isinstance(config, SessionConfig):
        raise ConfigurationError(
            f"{SETTINGS_KEY}: the Application has no session configuration; build it with "
            f"tornado.web.Application(routes, {SETTINGS_KEY}=satchel_tornado.SessionConfig(...))"
        )
    return config
