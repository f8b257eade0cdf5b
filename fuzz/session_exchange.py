"""Fuzz target: `SessionProtocol.begin` and `open` on hostile ``Cookie`` headers.

A client's bad cookie is never an exception: it is a fresh session. For
cookie storage (with and without chunking) and server storage (run against
a `MemoryStore`), whatever the header:

- begin, open, the load op, the handler's calls, finish and the save ops
  never raise;
- the session holds the stored data only if the header carries exactly one
  genuine session cookie (as the library issued it, byte for byte) and that
  session has not timed out; otherwise it is new, empty and has no flash;
- an untouched fresh session sets no session cookie;
- no response header holds CR, LF or NUL;
- a session cookie the response sets opens again, to the data the handler
  left.

Most inputs are a genuine cookie mutated as the input says (a flipped,
truncated, extended or spliced value; a duplicated cookie; extra or
replaced chunk cookies ``session.1`` ...), because random bytes alone would
never reach the code behind the authentication check.

Input layout: four selector bytes (storage and text decoding; mutation;
clock; handler and which cookie to mutate), a two-byte position, then the
fuzzer's text.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final, NamedTuple
from unittest import mock

from satchel import (
    Exchange,
    Keyring,
    MemoryStore,
    Op,
    Result,
    Session,
    SessionProtocol,
    Settings,
    StorageKind,
    parse_cookie_pairs,
    run_ops,
)

from ._harness import fuzz, text

__all__ = ["MATERIALS", "PROTOCOLS", "check", "header_cookies"]

SECRET: Final = "fuzzing secret, used for nothing else 01"
FOREIGN_SECRET: Final = "another keyring, never the one in use 02"
NAME: Final = "session"
T0: Final = 1_700_000_000.0
# Seconds after T0: inside the session's life, at and around the idle and
# absolute timeouts, and before T0 within and beyond the allowed clock skew.
OFFSETS: Final = (0.0, 1.0, 179.5, 180.0, 1799.0, 1800.0, 43200.0, -59.0, -61.0, -3600.0, 1e6)
DATA: Final = {"user": "alice", "visits": 3, "cart": [{"sku": "A-1", "qty": 2}]}
# Big enough to need two or three 256-byte chunks.
BIG_DATA: Final = {**DATA, "note": "lorem ipsum " * 25}
FLASH: Final = ("notice", "welcome")


def _settings(secret: str, **changes: Any) -> Settings:
    return Settings(keyring=Keyring([secret]), cookie_name=NAME, **changes)


PROTOCOLS: Final = (
    SessionProtocol(_settings(SECRET), storage="cookie"),
    SessionProtocol(_settings(SECRET, max_cookie_size=256, cookie_chunks=4), storage="cookie"),
    SessionProtocol(_settings(SECRET), storage="server"),
)


class _RecordingStore:
    """A `MemoryStore` that keeps its saves, to replay them into a fresh one."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.saves: list[Op] = []

    def execute(self, op: Op) -> Result:
        self.saves.append(op)
        return self.inner.execute(op)


class Material(NamedTuple):
    """A session cookie the library issued, as a browser would send it back."""

    storage: StorageKind
    pairs: tuple[tuple[str, str], ...]
    session_value: str  # the whole sealed value or ID, chunks joined
    data: dict[str, Any]
    saves: tuple[Op, ...]


@contextmanager
def _repeatable_randomness(label: str) -> Iterator[None]:
    # Nonces and session IDs come from os.urandom. Made repeatable here, the
    # issued cookies are the same in every process, so the real cookies in
    # the committed seed corpus are recognised as genuine by the oracle.
    counter = itertools.count()

    def urandom(size: int) -> bytes:
        block = hashlib.sha256(f"{label}/{next(counter)}".encode()).digest()
        return (block * (size // len(block) + 1))[:size]

    with mock.patch("os.urandom", urandom):
        yield


def _issue(protocol: SessionProtocol, data: dict[str, Any]) -> Material:
    """Run one request that stores `data` and a flash; keep what it set."""
    # The label names what shapes the cookie, not every setting: a setting
    # added later must not change the committed cookies.
    settings = protocol.settings
    label = f"{protocol.storage}/{settings.max_cookie_size}/{settings.cookie_chunks}"
    with _repeatable_randomness(label):
        return _issue_now(protocol, data)


def _issue_now(protocol: SessionProtocol, data: dict[str, Any]) -> Material:
    store = _RecordingStore()
    exchange = protocol.begin(None, now=T0)
    exchange.open()
    run_ops(exchange, store)
    exchange.session.update(data)
    exchange.session.flash(*FLASH)
    exchange.finish()
    run_ops(exchange, store)
    pairs = tuple(
        (name, value)
        for line in exchange.outcome.set_cookie_headers
        for name, _, value in (line.split(";", 1)[0].partition("="),)
    )
    first = pairs[0][1]
    if "." in first:  # chunked: "<count>.<part>", then name.1, name.2 ...
        first = first.partition(".")[2]
    joined = first + "".join(value for _, value in pairs[1:])
    return Material(protocol.storage, pairs, joined, dict(data), tuple(store.saves))


def _foreign(storage: StorageKind) -> Material:
    protocol = SessionProtocol(_settings(FOREIGN_SECRET), storage=storage)
    return _issue(protocol, DATA)


# Per protocol: its own genuine cookie, then the others'. The last two were
# issued under another keyring and must never open.
MATERIALS: Final = (
    _issue(PROTOCOLS[0], DATA),
    _issue(PROTOCOLS[1], BIG_DATA),
    _issue(PROTOCOLS[2], DATA),
    _foreign("cookie"),
    _foreign("server"),
)
_GENUINE: Final = {
    "cookie": {material.session_value: material for material in MATERIALS[:2]},
    "server": {MATERIALS[2].session_value: MATERIALS[2]},
}


def header_cookies(header: str) -> list[tuple[str, str]]:
    """The cookies the exchange reads from `header`."""
    return parse_cookie_pairs(header)


def _session_value(
    candidate: str, pairs: list[tuple[str, str]], protocol: SessionProtocol
) -> str | None:
    """The whole value a session-cookie candidate stands for (chunks joined)."""
    head, dot, rest = candidate.partition(".")
    if not dot or protocol.storage == "server":
        return candidate
    # Chunked: "<count>.<part>", and exactly one of each name.1 .. name.<count-1>.
    if not (head.isascii() and head.isdigit()):
        return None
    count = int(head)
    if not 2 <= count <= protocol.settings.cookie_chunks:
        return None
    parts = [rest]
    for index in range(1, count):
        values = [value for name, value in pairs if name == f"{NAME}.{index}"]
        if len(values) != 1:
            return None
        parts.append(values[0])
    return "".join(parts)


def _alive(settings: Settings, now: float) -> bool:
    """Whether a session created and last used at T0 is still valid at `now`."""
    return (
        now + settings.clock_skew >= T0
        and now - T0 < settings.absolute_timeout
        and now - T0 < settings.idle_timeout
    )


def _expected(header: str, protocol: SessionProtocol, now: float) -> Material | None:
    """The material whose data the session must hold, or None for a fresh one."""
    pairs = header_cookies(header)
    genuine = _GENUINE[protocol.storage]
    found = [
        genuine[value]
        for candidate_name, candidate in pairs
        if candidate_name == NAME
        and (value := _session_value(candidate, pairs, protocol)) is not None
        and value in genuine
    ]
    if len(found) != 1 or not _alive(protocol.settings, now):
        return None
    return found[0]


def _mutate(mode: int, position: int, payload: str, material: Material) -> str:
    """A header made from `material`'s cookies, changed as `mode` says."""
    pairs = list(material.pairs)
    name, value = pairs[0]
    if mode == 0:
        return payload
    if mode == 1:  # one character replaced (or removed)
        at = position % len(value)
        value = value[:at] + payload[:1] + value[at + 1 :]
    elif mode == 2:
        value = value[: position % (len(value) + 1)]
    elif mode == 3:
        value += payload
    elif mode == 4:
        at = position % (len(value) + 1)
        value = value[:at] + payload + value[at + len(payload) :]
    elif mode == 5:  # the same cookie twice, the second maybe extended
        pairs.append((name, value + payload))
    elif mode == 6:  # a chunk cookie replaced, or one more added
        if position & 0x100 and len(pairs) > 1:
            at = 1 + position % (len(pairs) - 1)
            pairs[at] = (pairs[at][0], payload)
        else:
            pairs.append((f"{NAME}.{position % 10}", payload))
    else:  # arbitrary text around the genuine cookies
        pairs.insert(position % (len(pairs) + 1), (payload, payload))
    pairs[0] = (name, value)
    return "; ".join(f"{key}={item}" for key, item in pairs)


def _handle(session: Session, action: int) -> None:
    if action == 2:
        session.get("user")
    elif action == 3:
        session["visits"] = session.get("visits", 0) + 1
    elif action == 4:
        session.flash("next", "shown once")
    elif action == 5:
        session.regenerate()
    elif action == 6:
        session.invalidate()
    elif action == 7:
        session.clear()


def _run(
    protocol: SessionProtocol,
    store: MemoryStore,
    header: str | list[str],
    now: float,
    handle: Callable[[Exchange], None],
) -> Exchange:
    exchange = protocol.begin(header, now=now)
    handle(exchange)
    exchange.finish()
    run_ops(exchange, store)
    return exchange


def _sets_session(line: str) -> bool:
    """Whether a Set-Cookie line sets (rather than deletes) a session cookie."""
    name = line.partition("=")[0]
    return (name == NAME or name.startswith(f"{NAME}.")) and "; Max-Age=0;" not in line


def check(data: bytes) -> None:
    """Run one request with the header `data` describes; assert the invariants."""
    if len(data) < 6:
        return
    protocol = PROTOCOLS[data[0] % 3]
    payload = text(data[6:], wide=bool(data[0] & 4))
    now = T0 + OFFSETS[data[2] % len(OFFSETS)]
    action = data[3] % 8
    choice = data[3] >> 4 & 3
    own = MATERIALS[data[0] % 3]
    material = own if choice < 2 else MATERIALS[(data[0] + 1 + data[3] // 64) % len(MATERIALS)]
    header = _mutate(data[1] % 8, int.from_bytes(data[4:6], "big"), payload, material)
    # HTTP/2 may split the header into several fields. satchel reads them as
    # one text joined by ";" (without the space), and so does the oracle:
    # ";  session=" split at "; " comes back as "; session=", a readable pair.
    presented: str | list[str] = header.split("; ") if data[3] & 8 else header
    if isinstance(presented, list):
        header = ";".join(presented)
    expected = _expected(header, protocol, now)

    store = MemoryStore()
    for op in own.saves:
        store.execute(op)
    left: dict[str, Any] = {}

    def handle(exchange: Exchange) -> None:
        if action == 0:
            return
        exchange.open()
        run_ops(exchange, store)
        session = exchange.session
        if expected is None:
            assert session.is_new
            assert not session
            assert not session.flashed
            assert session.ended_reason in (None, "idle", "absolute", "invalid", "ended")
        else:
            assert not session.is_new
            assert dict(session) == expected.data
            assert dict(session.flashed) == dict([FLASH])
            assert session.ended_reason is None
        if not any(name == NAME for name, _ in header_cookies(header)):
            assert session.ended_reason is None
        _handle(session, action)
        left.update(session)

    exchange = _run(protocol, store, presented, now, handle)
    headers = exchange.outcome.headers
    for name, value in headers:
        assert not {"\r", "\n", "\0"} & set(name + value), (name, value)
    sets = [value for name, value in headers if name == "Set-Cookie" and _sets_session(value)]
    if expected is None and action in (0, 1, 2):
        assert not sets, "an untouched fresh session set a cookie"
    if not sets:
        return
    assert action != 6, "invalidate() set a session cookie"

    # The new cookie opens again, to what the handler left.
    again = "; ".join(line.split(";", 1)[0] for line in sets)
    reopened: dict[str, Any] = {}

    def reopen(exchange: Exchange) -> None:
        exchange.open()
        run_ops(exchange, store)
        assert not exchange.session.is_new
        reopened.update(exchange.session)
        if action == 4:
            assert exchange.session.flashed.get("next") == "shown once"

    _run(protocol, store, again, now, reopen)
    assert reopened == left


if __name__ == "__main__":
    fuzz(check, instrument=("satchel", __name__))
