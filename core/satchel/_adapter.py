"""What every framework adapter is configured with, checked once at start-up.

Adapters differ in how they hook into their framework, never in what they
accept: the settings, a store of the flavour their I/O needs, a clock, the
timeout and store-failure hooks, and the sweep interval. `AdapterOptions`
checks all of these in one place, naming the bad option, and builds the
`SessionProtocol` the adapter runs.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any, Generic, Literal, TypeVar, final

from ._checks import check_seconds
from ._errors import ConfigurationError
from ._exchange import SessionProtocol
from ._session import Session
from ._settings import Settings

__all__ = ["AdapterOptions", "session_timed_out"]

StoreT = TypeVar("StoreT")
Flavour = Literal["sync", "async"]


def session_timed_out(session: Session) -> bool:
    """True when the session the request presented ended by idle or absolute
    timeout, which is when an adapter calls its ``on_timeout`` hook.
    """
    return session.ended_reason in ("idle", "absolute")


def _callable(name: str, value: object, *, optional: bool) -> None:
    if (value is None and optional) or callable(value):
        return
    raise ConfigurationError(f"{name}: must be callable, got {type(value).__name__}")


@final
class AdapterOptions(Generic[StoreT]):
    """The options an adapter takes, checked; and the protocol built from them.

    Args:
        settings: the session settings.
        store: a store of the adapter's flavour (`flavour`), or ``None`` to keep
            the whole session sealed in the cookie.
        flavour: ``"async"`` for adapters whose I/O is asynchronous (the
            store's ``execute`` must be a coroutine function), ``"sync"``
            otherwise.
        framework: the framework's name, for error messages.
        clock: the time in POSIX seconds.
        on_timeout: the adapter's timeout hook, or ``None`` for its default.
        timeout_location: where the default timeout hook redirects.
        on_store_error: the adapter's store-failure hook, or ``None``.
        sweep_interval: seconds between sweeps of a store with ``sweep(now)``,
            or ``None`` never to sweep.

    Attributes:
        protocol: the `SessionProtocol` for these settings and storage.
        sweep: the store's ``sweep(now)`` when the adapter should run it every
            `sweep_interval` seconds, else ``None``.

    Raises:
        ConfigurationError: naming the first bad option.
    """

    __slots__ = (
        "clock",
        "on_store_error",
        "on_timeout",
        "protocol",
        "settings",
        "store",
        "sweep",
        "sweep_interval",
        "timeout_location",
    )

    def __init__(
        self,
        *,
        settings: Settings,
        store: StoreT | None,
        flavour: Flavour,
        framework: str,
        clock: Callable[[], float] = time.time,
        on_timeout: Any = None,
        timeout_location: str = "/",
        on_store_error: Any = None,
        sweep_interval: float | None = 60.0,
    ) -> None:
        if not isinstance(settings, Settings):
            raise ConfigurationError(
                f"settings: expected a satchel.Settings, got {type(settings).__name__}"
            )
        if store is not None:
            execute = getattr(store, "execute", None)
            if not callable(execute):
                raise ConfigurationError(
                    "store: expected a satchel store with an execute(op) method, "
                    f"got {type(store).__name__}"
                )
            asynchronous = inspect.iscoroutinefunction(execute)
            if flavour == "async" and not asynchronous:
                raise ConfigurationError(
                    f"store: {framework} needs an asynchronous store, whose execute() is a "
                    "coroutine function (such as satchel.AsyncMemoryStore); got "
                    f"{type(store).__name__}"
                )
            if flavour == "sync" and asynchronous:
                raise ConfigurationError(
                    f"store: {type(store).__name__} is asynchronous; {framework} needs the "
                    "synchronous flavour (for example MemoryStore rather than AsyncMemoryStore)"
                )
        _callable("clock", clock, optional=False)
        _callable("on_timeout", on_timeout, optional=True)
        _callable("on_store_error", on_store_error, optional=True)
        if (
            not isinstance(timeout_location, str)
            or not timeout_location
            or any(ord(char) < 0x21 or ord(char) == 0x7F for char in timeout_location)
        ):
            raise ConfigurationError(
                "timeout_location: must be a non-empty URL without spaces or control "
                f"characters, got {timeout_location!r}"
            )
        if sweep_interval is not None:
            sweep_interval = check_seconds("sweep_interval", sweep_interval)
        self.settings = settings
        self.store = store
        self.clock = clock
        self.on_timeout = on_timeout
        self.timeout_location = timeout_location
        self.on_store_error = on_store_error
        self.sweep_interval = sweep_interval
        sweep = getattr(store, "sweep", None)
        self.sweep: Callable[[float], Any] | None = (
            sweep if callable(sweep) and self.sweep_interval is not None else None
        )
        self.protocol = SessionProtocol(settings, storage="cookie" if store is None else "server")

    def __repr__(self) -> str:
        return (
            f"<AdapterOptions storage={self.protocol.storage!r} "
            f"sweep_interval={self.sweep_interval!r}>"
        )
