"""A cookie-keeping simulated browser that drives the core with no HTTP."""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, final

import attrs

from .._exchange import Exchange, Outcome, SessionProtocol
from .._oploop import run_ops
from .._ops import Store
from .._session import Session
from ._clock import ManualClock

__all__ = ["Browser", "Response", "parse_set_cookie"]

T = TypeVar("T")


@final
@attrs.frozen(kw_only=True)
class Response:
    """What one simulated request produced."""

    value: Any
    """What the handler returned."""
    outcome: Outcome = attrs.field(repr=False)
    """The exchange's outcome (headers to send)."""
    ops: tuple[str, ...]
    """The names of the store ops run, in order (``"Load"``, ``"Save"``, ``"Delete"``)."""

    @property
    def set_cookies(self) -> tuple[str, ...]:
        """The ``Set-Cookie`` header values."""
        return self.outcome.set_cookie_headers

    def header(self, name: str) -> list[str]:
        """Every value of response header `name` (case-insensitive)."""
        return [value for key, value in self.outcome.headers if key.lower() == name.lower()]


def parse_set_cookie(header: str) -> tuple[str, str, dict[str, str]]:
    """Split a ``Set-Cookie`` value into (name, value, attributes).

    Attribute names are lower-cased; flag attributes map to ``""``. Meant for
    tests of satchel's own output, not for arbitrary servers' headers.
    """
    first, *rest = header.split(";")
    name, _, value = first.strip().partition("=")
    attributes: dict[str, str] = {}
    for item in rest:
        key, _, attribute_value = item.strip().partition("=")
        attributes[key.lower()] = attribute_value
    return name, value, attributes


@final
class _CookieJar:
    """Cookies kept as a browser keeps them (Max-Age, Expires), on a clock.

    Shared by `Browser` (on its `ManualClock`) and `HttpClient` (on the wall
    clock). Only names and values are kept: the tests talk to one server at
    one path.
    """

    __slots__ = ("_clock", "_cookies")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        # name -> (value, expires_at); None: a browser-session cookie.
        self._cookies: dict[str, tuple[str, float | None]] = {}

    def live(self) -> dict[str, str]:
        """The cookies not yet expired, name -> value (expired ones are dropped)."""
        now = self._clock()
        self._cookies = {
            name: (value, expires_at)
            for name, (value, expires_at) in self._cookies.items()
            if expires_at is None or expires_at > now
        }
        return {name: value for name, (value, _) in self._cookies.items()}

    def header(self) -> str | None:
        """The ``Cookie`` header to send now, or ``None`` if there is no cookie."""
        cookies = self.live()
        return "; ".join(f"{name}={value}" for name, value in cookies.items()) or None

    def put(self, name: str, value: str) -> None:
        """Keep a browser-session cookie."""
        self._cookies[name] = (value, None)

    def forget(self, name: str) -> None:
        """Drop a cookie."""
        self._cookies.pop(name, None)

    def close(self) -> None:
        """End the browser session: browser-session cookies are dropped."""
        self._cookies = {
            name: cookie for name, cookie in self._cookies.items() if cookie[1] is not None
        }

    def receive(self, set_cookie_headers: Iterable[str]) -> None:
        """Apply ``Set-Cookie`` header values as a browser would."""
        now = self._clock()
        for header in set_cookie_headers:
            name, value, attributes = parse_set_cookie(header)
            expires_at: float | None = None
            if "max-age" in attributes:
                expires_at = now + int(attributes["max-age"])
            elif "expires" in attributes:
                expires_at = email.utils.parsedate_to_datetime(attributes["expires"]).timestamp()
            if expires_at is not None and expires_at <= now:
                self._cookies.pop(name, None)
            else:
                self._cookies[name] = (value, expires_at)


@final
class Browser:
    """Keeps cookies like a browser (honouring Max-Age and Expires on the
    clock) and runs requests through a `SessionProtocol` and a sync store.

    Example::

        clock = ManualClock()
        browser = Browser(protocol, clock, store)
        browser.request(lambda session: session.__setitem__("user", "ada"))
        assert browser.request(lambda session: session.get("user")).value == "ada"
    """

    def __init__(
        self, protocol: SessionProtocol, clock: ManualClock, store: Store | None = None
    ) -> None:
        if protocol.storage == "server" and store is None:
            raise ValueError("server storage needs a store")
        self.protocol = protocol
        self.clock = clock
        self.store = store
        self._jar = _CookieJar(clock)

    def cookie_header(self) -> str | None:
        """The ``Cookie`` header this browser would send now."""
        return self._jar.header()

    @property
    def cookies(self) -> dict[str, str]:
        """The live cookies, name → value."""
        return self._jar.live()

    def set(self, name: str, value: str) -> None:
        """Put a cookie in the jar directly (to tamper with it, say)."""
        self._jar.put(name, value)

    def forget(self, name: str) -> None:
        """Drop a cookie from the jar."""
        self._jar.forget(name)

    def close(self) -> None:
        """End the browser session: browser-session cookies are dropped."""
        self._jar.close()

    def receive(self, set_cookie_headers: tuple[str, ...] | list[str]) -> None:
        """Apply ``Set-Cookie`` headers as a browser would."""
        self._jar.receive(set_cookie_headers)

    def request(
        self,
        handler: Callable[[Session], T] | None = None,
        *,
        exchange_hook: Callable[[Exchange], None] | None = None,
    ) -> Response:
        """One request: open the session if `handler` is given, run it, finish.

        `exchange_hook`, if given, is called with the exchange before finish
        (to set custom cookies, say). Store ops run against the browser's store.
        """
        ops: list[str] = []
        store = self.store

        class _Counting:
            def execute(self, op: Any) -> Any:
                ops.append(type(op).__name__)
                assert store is not None
                return store.execute(op)

        exchange = self.protocol.begin(self.cookie_header(), now=self.clock())
        value: Any = None
        if handler is not None:
            exchange.open()
            run_ops(exchange, _Counting())
            value = handler(exchange.session)
        if exchange_hook is not None:
            exchange_hook(exchange)
        exchange.finish()
        run_ops(exchange, _Counting())
        outcome = exchange.outcome
        self.receive(outcome.set_cookie_headers)
        return Response(value=value, outcome=outcome, ops=tuple(ops))
