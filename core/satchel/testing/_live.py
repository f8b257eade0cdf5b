"""`LiveServer`: what `AdapterConformance` needs to know of the server it drives."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from ._clock import ManualClock

__all__ = ["LiveServer"]


@attrs.frozen(kw_only=True)
class LiveServer:
    """A running server with the contract routes (`satchel.testing.routes`).

    Attributes:
        base_url: ``http://127.0.0.1:PORT``.
        clock: the `ManualClock` the server's sessions run on, so timeouts are
            tested without sleeping.
        idle_timeout: the server's idle timeout in seconds.
        cookie_name: the session cookie's name.
        timeout_location: where the server redirects a timed-out session.
        break_store: makes the server's store fail from now on (every
            operation raising `satchel.StoreError`), e.g. the ``break_down``
            of a `SwitchableStore` wrapping it. Required when the suite's
            ``server_side`` is true: the store-failure check fails, naming
            this field, without it.
        mend_store: makes the server's store work again, e.g. the ``mend`` of
            that `SwitchableStore`. Required with `break_store`.
    """

    base_url: str
    clock: ManualClock
    idle_timeout: float = 1800.0
    cookie_name: str = "session"
    timeout_location: str = "/"
    break_store: Callable[[], object] | None = None
    mend_store: Callable[[], object] | None = None
