"""A cookie-keeping simulated browser that drives the core with no HTTP."""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from typing import Any, TypeVar, final

import attrs

from .._exchange import Exchange, Outcome, SessionProtocol, run_ops
from .._ops import Store
from .._session import Session
from ._clock import ManualClock

__all__ = ["Browser", "Response", "parse_set_cookie"]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class _StoredCookie:
    value: str
    expires_at: float | None  # None: a browser-session cookie
    path: str
    domain: str | None


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
        self._jar: dict[str, _StoredCookie] = {}

    def cookie_header(self) -> str | None:
        """The ``Cookie`` header this browser would send now."""
        self._expire()
        if not self._jar:
            return None
        return "; ".join(f"{name}={cookie.value}" for name, cookie in self._jar.items())

    @property
    def cookies(self) -> dict[str, str]:
        """The live cookies, name → value."""
        self._expire()
        return {name: cookie.value for name, cookie in self._jar.items()}

    def set(self, name: str, value: str) -> None:
        """Put a cookie in the jar directly (to tamper with it, say)."""
        self._jar[name] = _StoredCookie(value=value, expires_at=None, path="/", domain=None)

    def forget(self, name: str) -> None:
        """Drop a cookie from the jar."""
        self._jar.pop(name, None)

    def close(self) -> None:
        """End the browser session: browser-session cookies are dropped."""
        self._jar = {
            name: cookie for name, cookie in self._jar.items() if cookie.expires_at is not None
        }

    def _expire(self) -> None:
        now = self.clock()
        self._jar = {
            name: cookie
            for name, cookie in self._jar.items()
            if cookie.expires_at is None or cookie.expires_at > now
        }

    def receive(self, set_cookie_headers: tuple[str, ...] | list[str]) -> None:
        """Apply ``Set-Cookie`` headers as a browser would."""
        now = self.clock()
        for header in set_cookie_headers:
            name, value, attributes = parse_set_cookie(header)
            expires_at: float | None = None
            if "max-age" in attributes:
                expires_at = now + int(attributes["max-age"])
            elif "expires" in attributes:
                parsed = email.utils.parsedate_to_datetime(attributes["expires"])
                expires_at = parsed.timestamp()
            if expires_at is not None and expires_at <= now:
                self._jar.pop(name, None)
                continue
            self._jar[name] = _StoredCookie(
                value=value,
                expires_at=expires_at,
                path=attributes.get("path", "/"),
                domain=attributes.get("domain"),
            )

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
