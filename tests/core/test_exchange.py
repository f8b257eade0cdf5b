"""Exchange behaviour, driven with ManualClock and the simulated browser."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from typing import Any

import pytest

from satchel import (
    BACKOFF_CAP,
    Conflict,
    CookieError,
    Delete,
    Deleted,
    Keyring,
    Load,
    Loaded,
    MemoryStore,
    Missing,
    Op,
    ProtocolError,
    Result,
    Save,
    Saved,
    Session,
    SessionConflict,
    SessionProtocol,
    SessionTooLarge,
    Settings,
    State,
    StorageKind,
    StoreError,
    StoreFailed,
    UnstorableValue,
    run_ops,
)
from satchel.testing import Browser, ManualClock, parse_set_cookie

from ..conftest import OTHER_SECRET, SECRET

STORAGES: list[StorageKind] = ["cookie", "server"]


def make(
    storage: StorageKind,
    clock: ManualClock,
    store: Any = None,
    **overrides: Any,
) -> tuple[SessionProtocol, Browser]:
    settings = Settings(keyring=Keyring([SECRET]), **overrides)
    protocol = SessionProtocol(settings, storage=storage)
    return protocol, Browser(protocol, clock, store if store is not None else MemoryStore())


def put(key: str, value: Any) -> Callable[[Session], None]:
    return lambda session: session.__setitem__(key, value)


def get(key: str) -> Callable[[Session], Any]:
    return lambda session: session.get(key)


class KeepEverything:
    """A store that never expires anything (to show the exchange checks expiry)."""

    def __init__(self) -> None:
        self.records: dict[str, tuple[bytes, int]] = {}
        self.ops: list[Op] = []

    def execute(self, op: Op) -> Result:
        self.ops.append(op)
        if isinstance(op, Load):
            if op.key in self.records:
                value, revision = self.records[op.key]
                return Loaded(value=value, revision=revision)
            return Missing()
        if isinstance(op, Save):
            current = self.records.get(op.key)
            if (current is None) != (op.expected_revision is None) or (
                current is not None and current[1] != op.expected_revision
            ):
                return Conflict()
            self.records[op.key] = (op.value, op.new_revision)
            return Saved(revision=op.new_revision)
        self.records.pop(op.key, None)
        return Deleted()


# -- laziness and write avoidance -------------------------------------------


@pytest.mark.parametrize("storage", STORAGES)
def test_untouched_request_costs_nothing(storage: StorageKind, clock: ManualClock) -> None:
    _, browser = make(storage, clock)
    browser.request(put("user", "ada"))
    response = browser.request(None)
    assert response.ops == ()
    assert response.outcome.headers == ()
    assert not response.outcome.session_read


@pytest.mark.parametrize("storage", STORAGES)
def test_new_session_nobody_wrote_sets_nothing(storage: StorageKind, clock: ManualClock) -> None:
    _, browser = make(storage, clock)
    response = browser.request(get("user"))
    assert response.ops == ()
    assert response.set_cookies == ()
    assert response.header("Vary") == ["Cookie"]
    assert response.header("Cache-Control") == []


@pytest.mark.parametrize("storage", STORAGES)
def test_first_write_sets_a_safe_browser_session_cookie(
    storage: StorageKind, clock: ManualClock
) -> None:
    _, browser = make(storage, clock)
    response = browser.request(put("user", "ada"))
    [header] = response.set_cookies
    name, value, attributes = parse_set_cookie(header)
    assert name == "session"
    assert value
    assert attributes == {"path": "/", "secure": "", "httponly": "", "samesite": "Lax"}
    assert response.header("Cache-Control") == ["no-store"]
    assert response.header("Vary") == ["Cookie"]
    assert response.ops == (("Save",) if storage == "server" else ())
    assert browser.request(get("user")).value == "ada"


@pytest.mark.parametrize("storage", STORAGES)
def test_read_only_request_within_touch_interval_writes_nothing(
    storage: StorageKind, clock: ManualClock
) -> None:
    _, browser = make(storage, clock)
    browser.request(put("user", "ada"))
    clock.advance(10)
    response = browser.request(get("user"))
    assert response.value == "ada"
    assert response.set_cookies == ()
    assert response.ops == (("Load",) if storage == "server" else ())
    assert response.header("Cache-Control") == []


@pytest.mark.parametrize("storage", STORAGES)
def test_unchanged_session_is_touched_after_touch_interval(
    storage: StorageKind, clock: ManualClock
) -> None:
    _, browser = make(storage, clock, idle_timeout=100, touch_interval=10)
    browser.request(put("user", "ada"))
    clock.advance(9.999)
    assert browser.request(get("user")).set_cookies == ()
    clock.advance(0.001)
    response = browser.request(get("user"))
    assert len(response.set_cookies) == 1
    assert response.ops == (("Load", "Save") if storage == "server" else ())
    # The touch moved last access, so the session outlives its first idle window.
    clock.advance(95)
    assert browser.request(get("user")).value == "ada"


@pytest.mark.parametrize("storage", STORAGES)
def test_nested_mutation_is_detected(storage: StorageKind, clock: ManualClock) -> None:
    _, browser = make(storage, clock)
    browser.request(put("cart", ["apple"]))
    response = browser.request(lambda session: session["cart"].append("pear"))
    assert len(response.set_cookies) == 1
    assert browser.request(get("cart")).value == ["apple", "pear"]


@pytest.mark.parametrize("storage", STORAGES)
def test_mapping_api(storage: StorageKind, clock: ManualClock) -> None:
    _, browser = make(storage, clock)

    def handler(session: Session) -> Any:
        session["a"] = 1
        session.update(b=2, c=3)
        del session["c"]
        first = session.setdefault("a", 99)
        second = session.setdefault("d", 4)
        return (
            first,
            second,
            session.get("zzz", "default"),
            "a" in session,
            len(session),
        )

    assert browser.request(handler).value == (1, 4, "default", True, 3)
    assert browser.request(lambda s: dict(s)).value == {"a": 1, "b": 2, "d": 4}
    browser.request(lambda s: s.pop("a"))
    browser.request(lambda s: s.clear() if "b" in s else None)
    assert browser.request(lambda s: dict(s)).value == {}


def test_non_str_keys_are_refused(clock: ManualClock) -> None:
    _, browser = make("cookie", clock)
    with pytest.raises(TypeError):
        browser.request(lambda s: s.__setitem__(1, "x"))


@pytest.mark.parametrize("storage", STORAGES)
def test_unstorable_value_fails_finish_naming_the_key(
    storage: StorageKind, clock: ManualClock
) -> None:
    protocol, browser = make(storage, clock)
    with pytest.raises(UnstorableValue, match="'tags'"):
        browser.request(put("tags", {"a", "b"}))
    exchange = protocol.begin(None, now=clock())
    exchange.open()
    exchange.session["nested"] = {"x": {1: 2}}
    with pytest.raises(UnstorableValue, match="'nested'"):
        exchange.finish()
    assert exchange.state is State.ERROR


# -- timeouts ------------------------------------------------------------------


@pytest.mark.parametrize("storage", STORAGES)
def test_idle_timeout_boundary(storage: StorageKind, clock: ManualClock) -> None:
    _, browser = make(storage, clock, store=KeepEverything())
    browser.request(put("user", "ada"))
    clock.advance(1800 - 0.001)
    assert browser.request(lambda s: (s.get("user"), s.ended_reason)).value == (
        "ada",
        None,
    )
    # That request touched the session; exactly idle_timeout later it is gone.
    clock.advance(1800)
    assert browser.request(lambda s: (s.get("user"), s.ended_reason, s.is_new)).value == (
        None,
        "idle",
        True,
    )


@pytest.mark.parametrize("storage", STORAGES)
def test_idle_timeout_default_is_1800_seconds(storage: StorageKind, clock: ManualClock) -> None:
    protocol, browser = make(storage, clock)
    assert protocol.settings.idle_timeout == 1800
    browser.request(put("user", "ada"))
    clock.advance(1800)
    response = browser.request(lambda s: (s.get("user"), s.ended_reason))
    assert response.value == (None, "idle")
    assert response.outcome.ended_reason == "idle"
    # The ended session's cookie is expired, so the next request starts clean
    # instead of reporting the timeout again (no redirect loop).
    [header] = response.set_cookies
    assert parse_set_cookie(header)[2]["max-age"] == "0"
    assert browser.request(lambda s: s.ended_reason).value is None


@pytest.mark.parametrize("storage", STORAGES)
def test_absolute_timeout_boundary(storage: StorageKind, clock: ManualClock) -> None:
    _, browser = make(storage, clock, idle_timeout=600, absolute_timeout=3000, touch_interval=60)
    start = clock()
    browser.request(put("user", "ada"))
    while clock() + 500 < start + 3000:
        clock.advance(500)
        assert browser.request(get("user")).value == "ada"
    clock.set(start + 3000 - 0.001)
    assert browser.request(get("user")).value == "ada"
    clock.set(start + 3000)
    assert browser.request(lambda s: (s.get("user"), s.ended_reason)).value == (
        None,
        "absolute",
    )


@pytest.mark.parametrize("storage", STORAGES)
def test_clock_going_backwards_never_extends_a_session(
    storage: StorageKind, clock: ManualClock
) -> None:
    _, browser = make(storage, clock, store=KeepEverything(), idle_timeout=100, touch_interval=10)
    start = clock()
    browser.request(put("user", "ada"))
    clock.advance(50)
    browser.request(put("n", 1))  # last access = start + 50
    clock.advance(-40)  # the clock jumps back, within the allowed skew
    assert browser.request(put("n", 2)).value is None  # written at start + 10
    clock.set(start + 50 + 100)
    assert browser.request(lambda s: (s.get("user"), s.ended_reason)).value == (
        None,
        "idle",
    )


@pytest.mark.parametrize("storage", STORAGES)
def test_timestamps_in_the_future_beyond_skew_are_invalid(
    storage: StorageKind, clock: ManualClock
) -> None:
    _, browser = make(storage, clock, store=KeepEverything(), clock_skew=60)
    browser.request(put("user", "ada"))
    clock.advance(-60)
    assert browser.request(get("user")).value == "ada"
    clock.advance(-0.001)
    assert browser.request(lambda s: (s.get("user"), s.ended_reason)).value == (
        None,
        "invalid",
    )


def test_expired_record_is_never_returned_even_if_stored(clock: ManualClock) -> None:
    store = KeepEverything()
    _, browser = make("server", clock, store=store)
    browser.request(put("user", "ada"))
    assert len(store.records) == 1
    clock.advance(1800)
    response = browser.request(lambda s: (s.get("user"), s.ended_reason))
    assert response.value == (None, "idle")
    assert response.ops == ("Load", "Delete")
    assert store.records == {}


def test_missing_record_reports_timeout_from_the_cookie(clock: ManualClock) -> None:
    # Stores with native expiry (Redis) just answer Missing; the authenticated
    # timestamps in the cookie still tell an idle timeout from a logout.
    _, browser = make("server", clock)
    browser.request(put("user", "ada"))
    clock.advance(1800)
    assert browser.request(lambda s: s.ended_reason).value == "idle"


# -- bad input -----------------------------------------------------------------


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),
        lambda v: v[: len(v) // 2],
        lambda v: "",
        lambda v: "x" * 5000,
        lambda v: '"' + v + '"',
        lambda v: "%7B%22user%22%3A%22admin%22%7D",
        lambda v: "3." + v,
    ],
)
def test_tampered_cookie_is_a_fresh_session(
    storage: StorageKind, tamper: Callable[[str], str], clock: ManualClock
) -> None:
    _, browser = make(storage, clock)
    browser.request(put("user", "ada"))
    browser.set("session", tamper(browser.cookies["session"]))
    response = browser.request(lambda s: (s.get("user"), s.is_new, s.ended_reason))
    assert response.value[:2] == (None, True)
    assert response.value[2] in (
        "invalid",
        None,
    )  # None when the tampered value is not even a cookie
    assert response.set_cookies == ()
    assert response.ops == ()


def test_unknown_id_is_never_adopted(clock: ManualClock) -> None:
    store = MemoryStore()
    _, browser = make("server", clock, store=store)
    browser.request(put("user", "ada"))
    presented = browser.cookies["session"]
    browser.request(lambda s: s.invalidate())
    browser.set("session", presented)  # a replayed cookie of a deleted session
    response = browser.request(lambda s: (s.get("user"), s.ended_reason))
    # Authentic, but its record is gone: ended, not invalid.
    assert response.value == (None, "ended")
    assert response.ops == ("Load",)
    assert response.set_cookies == ()
    browser.set("session", presented)
    response = browser.request(put("user", "eve"))
    assert response.ops == ("Load", "Save")
    assert browser.cookies["session"] != presented


def test_create_never_overwrites_and_retries_with_a_new_id(clock: ManualClock) -> None:
    class CollideOnce(KeepEverything):
        collided = False

        def execute(self, op: Op) -> Result:
            if isinstance(op, Save) and op.expected_revision is None and not self.collided:
                self.collided = True
                self.ops.append(op)
                return Conflict()
            return super().execute(op)

    store = CollideOnce()
    _, browser = make("server", clock, store=store)
    response = browser.request(put("user", "ada"))
    first, second = store.ops
    assert isinstance(first, Save)
    assert isinstance(second, Save)
    assert first.key != second.key
    assert second.expected_revision is None
    assert response.outcome.conflicts_retried == 1
    assert browser.request(get("user")).value == "ada"


@pytest.mark.parametrize("storage", STORAGES)
def test_duplicate_cookies_one_authentic_wins(storage: StorageKind, clock: ManualClock) -> None:
    protocol, browser = make(storage, clock)
    browser.request(put("user", "ada"))
    good = browser.cookies["session"]
    exchange = protocol.begin(["session=forged; other=1", f"session={good}"], now=clock())
    exchange.open()
    run_ops(exchange, browser.store)  # type: ignore[arg-type]
    assert exchange.session.get("user") == "ada"


@pytest.mark.parametrize("storage", STORAGES)
def test_duplicate_cookies_several_authentic_means_no_session(
    storage: StorageKind, clock: ManualClock
) -> None:
    protocol, browser = make(storage, clock)
    browser.request(put("user", "ada"))
    first = browser.cookies["session"]
    other = Browser(protocol, clock, browser.store)
    other.request(put("user", "eve"))
    second = other.cookies["session"]
    exchange = protocol.begin(f"session={first}; session={second}", now=clock())
    exchange.open()
    run_ops(exchange, browser.store)  # type: ignore[arg-type]
    assert exchange.session.get("user") is None
    assert exchange.session.ended_reason == "invalid"
    assert exchange.next_op() is None


# -- flash, regenerate, invalidate -------------------------------------------


@pytest.mark.parametrize("storage", STORAGES)
def test_flash_lives_for_exactly_one_request(storage: StorageKind, clock: ManualClock) -> None:
    _, browser = make(storage, clock)
    browser.request(lambda s: s.flash("message", "Saved!"))
    assert browser.request(lambda s: dict(s.flashed)).value == {"message": "Saved!"}
    assert browser.request(lambda s: dict(s.flashed)).value == {}


@pytest.mark.parametrize("storage", STORAGES)
def test_flash_is_not_visible_in_the_request_that_set_it(
    storage: StorageKind, clock: ManualClock
) -> None:
    _, browser = make(storage, clock)

    def handler(session: Session) -> Any:
        session.flash("message", "hi")
        return dict(session.flashed)

    assert browser.request(handler).value == {}


@pytest.mark.parametrize("storage", STORAGES)
def test_flash_survives_requests_that_never_open_the_session(
    storage: StorageKind, clock: ManualClock
) -> None:
    _, browser = make(storage, clock)
    browser.request(lambda s: s.flash("message", "hi"))
    browser.request(None)
    assert browser.request(lambda s: s.flashed.get("message")).value == "hi"


def test_regenerate_issues_a_new_id_keeps_data_and_creation_and_deletes_old(
    clock: ManualClock,
) -> None:
    store = KeepEverything()
    _, browser = make("server", clock, store=store)
    browser.request(put("cart", ["apple"]))
    created = browser.request(lambda s: s.created_at).value
    [old_key] = store.records
    old_cookie = browser.cookies["session"]
    clock.advance(5)

    def login(session: Session) -> None:
        session.regenerate()
        session["user"] = "ada"

    response = browser.request(login)
    assert response.ops == ("Load", "Save", "Delete")
    assert browser.cookies["session"] != old_cookie
    assert old_key not in store.records
    assert browser.request(lambda s: (dict(s), s.created_at)).value == (
        {"cart": ["apple"], "user": "ada"},
        created,
    )


def test_regenerate_does_not_extend_the_absolute_timeout(clock: ManualClock) -> None:
    _, browser = make("server", clock, idle_timeout=1000, absolute_timeout=2000)
    browser.request(put("user", "ada"))
    clock.advance(900)
    browser.request(lambda s: s.regenerate())
    clock.advance(900)
    assert browser.request(get("user")).value == "ada"
    clock.advance(200)
    assert browser.request(lambda s: s.ended_reason).value == "absolute"


def test_regenerate_with_cookie_storage_reseals(clock: ManualClock) -> None:
    _, browser = make("cookie", clock)
    browser.request(put("user", "ada"))
    before = browser.cookies["session"]
    response = browser.request(lambda s: s.regenerate())
    assert len(response.set_cookies) == 1
    assert browser.cookies["session"] != before
    assert browser.request(get("user")).value == "ada"


@pytest.mark.parametrize("storage", STORAGES)
def test_invalidate_deletes_record_and_expires_cookie_with_same_path_and_domain(
    storage: StorageKind, clock: ManualClock
) -> None:
    store = KeepEverything()
    _, browser = make(storage, clock, store=store, cookie_path="/app", cookie_domain="example.com")
    browser.request(put("user", "ada"))
    response = browser.request(lambda s: s.invalidate())
    [header] = response.set_cookies
    name, value, attributes = parse_set_cookie(header)
    assert (name, value) == ("session", "")
    assert attributes["path"] == "/app"
    assert attributes["domain"] == "example.com"
    assert attributes["max-age"] == "0"
    assert attributes["expires"] == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert response.header("Cache-Control") == ["no-store"]
    if storage == "server":
        assert response.ops == ("Load", "Delete")
        assert store.records == {}
    assert browser.request(lambda s: (dict(s), s.is_new)).value == ({}, True)


@pytest.mark.parametrize("storage", STORAGES)
def test_writes_after_invalidate_start_a_new_session(
    storage: StorageKind, clock: ManualClock
) -> None:
    store = KeepEverything()
    _, browser = make(storage, clock, store=store)
    browser.request(put("user", "ada"))
    old = browser.cookies["session"]

    def logout(session: Session) -> None:
        session.invalidate()
        session.flash("message", "logged out")

    browser.request(logout)
    assert browser.cookies["session"] != old
    assert browser.request(lambda s: (s.get("user"), dict(s.flashed))).value == (
        None,
        {"message": "logged out"},
    )
    if storage == "server":
        assert len(store.records) == 1


# -- concurrency ---------------------------------------------------------------


def _open(protocol: SessionProtocol, cookie: str, store: Any, now: float) -> Any:
    exchange = protocol.begin(f"session={cookie}", now=now)
    exchange.open()
    run_ops(exchange, store)
    return exchange


def test_two_requests_changing_different_keys_both_survive(clock: ManualClock) -> None:
    store = MemoryStore()
    protocol, browser = make("server", clock, store=store)
    browser.request(lambda s: s.update(a=1, b=1, gone=1))
    cookie = browser.cookies["session"]
    first = _open(protocol, cookie, store, clock())
    second = _open(protocol, cookie, store, clock())
    second.session["b"] = 2
    second.finish()
    run_ops(second, store)
    first.session["a"] = 2
    del first.session["gone"]
    first.session["new"] = "x"
    ops: list[str] = []
    op = first.finish()
    while op is not None:
        ops.append(type(op).__name__)
        op = first.send(store.execute(op))
    assert ops == ["Save", "Load", "Save"]
    assert first.outcome.conflicts_retried == 1
    assert browser.request(lambda s: dict(s)).value == {"a": 2, "b": 2, "new": "x"}


def test_same_key_changed_by_both_the_later_save_wins(clock: ManualClock) -> None:
    store = MemoryStore()
    protocol, browser = make("server", clock, store=store)
    browser.request(put("n", 0))
    cookie = browser.cookies["session"]
    first = _open(protocol, cookie, store, clock())
    second = _open(protocol, cookie, store, clock())
    second.session["n"] = "second"
    second.finish()
    run_ops(second, store)
    first.session["n"] = "first"
    first.finish()
    run_ops(first, store)
    assert browser.request(get("n")).value == "first"


def test_a_request_racing_a_logout_never_revives_the_session(
    clock: ManualClock,
) -> None:
    store = MemoryStore()
    protocol, browser = make("server", clock, store=store)
    browser.request(put("user", "ada"))
    cookie = browser.cookies["session"]
    slow = _open(protocol, cookie, store, clock())
    logout = _open(protocol, cookie, store, clock())
    logout.session.invalidate()
    logout.finish()
    run_ops(logout, store)
    slow.session["cart"] = ["apple"]
    slow.finish()
    run_ops(slow, store)
    assert slow.outcome.discarded_by_logout
    [header] = slow.outcome.set_cookie_headers
    assert parse_set_cookie(header)[2]["max-age"] == "0"
    browser.set("session", cookie)
    assert browser.request(lambda s: (dict(s), s.ended_reason)).value == ({}, "ended")
    assert len(store) == 0


def test_a_save_that_keeps_losing_gives_up_at_the_conflict_deadline(clock: ManualClock) -> None:
    class AlwaysConflicts(KeepEverything):
        def execute(self, op: Op) -> Result:
            if isinstance(op, Save) and op.expected_revision is not None:
                return Conflict()
            return super().execute(op)

    store = AlwaysConflicts()
    protocol, browser = make("server", clock, store=store, conflict_deadline=0.2)
    browser.request(put("n", 0))
    exchange = _open(protocol, browser.cookies["session"], store, clock())
    exchange.session["n"] = 1
    exchange.finish()
    started = time.monotonic()
    with pytest.raises(SessionConflict, match=r"conflict_deadline \(0.2 s\)") as info:
        run_ops(exchange, store)
    # The deadline, not a count, ended it: the loop kept retrying until then.
    assert time.monotonic() - started >= 0.2 - BACKOFF_CAP
    assert info.value.conflicts == exchange.conflicts > 3
    assert isinstance(info.value, StoreError)
    assert exchange.state is State.ERROR
    with pytest.raises(ProtocolError):
        _ = exchange.outcome


# -- store failure and misuse ------------------------------------------------


def test_store_failure_raises_store_error_and_fails_the_exchange(
    clock: ManualClock,
) -> None:
    class Broken:
        def execute(self, op: Op) -> Result:
            raise StoreError("store unreachable")

    protocol, browser = make("server", clock)
    browser.request(put("user", "ada"))
    exchange = protocol.begin(f"session={browser.cookies['session']}", now=clock())
    exchange.open()
    with pytest.raises(StoreError, match="unreachable"):
        run_ops(exchange, Broken())
    assert exchange.state is State.ERROR
    with pytest.raises(ProtocolError):
        exchange.finish()


def test_misuse_raises_protocol_errors_and_leaves_error_state(
    settings: Settings, clock: ManualClock
) -> None:
    protocol = SessionProtocol(settings, storage="server")

    exchange = protocol.begin(None, now=clock())
    exchange.finish()
    with pytest.raises(ProtocolError):
        exchange.finish()
    assert exchange.state is State.ERROR

    exchange = protocol.begin(None, now=clock())
    exchange.open()
    session = exchange.session
    exchange.finish()
    with pytest.raises(ProtocolError):
        session["x"] = 1
    with pytest.raises(ProtocolError):
        _ = exchange.session
    assert exchange.state is State.ERROR

    exchange = protocol.begin(None, now=clock())
    with pytest.raises(ProtocolError):
        exchange.send(Missing())
    assert exchange.state is State.ERROR

    exchange = protocol.begin(None, now=clock())
    with pytest.raises(ProtocolError):
        _ = exchange.session
    with pytest.raises(ProtocolError):
        exchange.open()


def test_wrong_result_for_the_pending_op_is_a_protocol_error(
    clock: ManualClock,
) -> None:
    protocol, browser = make("server", clock)
    browser.request(put("user", "ada"))
    exchange = protocol.begin(f"session={browser.cookies['session']}", now=clock())
    exchange.open()
    assert isinstance(exchange.next_op(), Load)
    with pytest.raises(ProtocolError, match="does not answer"):
        exchange.send(Saved(revision=1))
    assert exchange.state is State.ERROR


def test_finish_while_a_load_is_unanswered_is_a_protocol_error(
    clock: ManualClock,
) -> None:
    protocol, browser = make("server", clock)
    browser.request(put("user", "ada"))
    exchange = protocol.begin(f"session={browser.cookies['session']}", now=clock())
    exchange.open()
    with pytest.raises(ProtocolError):
        exchange.finish()


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("now", [float("nan"), float("inf"), float("-inf")])
def test_a_clock_that_is_not_finite_is_refused_at_begin(
    storage: StorageKind, now: float, clock: ManualClock
) -> None:
    protocol, _ = make(storage, clock)
    with pytest.raises(ProtocolError, match="finite"):
        protocol.begin(None, now=now)


@pytest.mark.parametrize("storage", STORAGES)
def test_a_clock_that_is_not_finite_is_refused_at_finish_before_any_op(
    storage: StorageKind, clock: ManualClock
) -> None:
    # Otherwise the NaN would reach the store as the save's TTL and expiry.
    protocol, _ = make(storage, clock)
    exchange = protocol.begin(None, now=clock())
    exchange.open()
    exchange.session["user"] = "ada"
    with pytest.raises(ProtocolError, match="finite"):
        exchange.finish(now=float("nan"))
    assert exchange.state is State.ERROR
    assert exchange.next_op() is None


def test_store_failed_result_type_is_accepted_by_send(clock: ManualClock) -> None:
    protocol, browser = make("server", clock)
    browser.request(put("user", "ada"))
    exchange = protocol.begin(f"session={browser.cookies['session']}", now=clock())
    exchange.open()
    error = StoreError("down")
    with pytest.raises(StoreError) as info:
        exchange.send(StoreFailed(error=error))
    assert info.value is error


# -- cookies -----------------------------------------------------------------


def test_custom_cookies_read_set_and_delete(settings: Settings, clock: ManualClock) -> None:
    protocol = SessionProtocol(settings)
    exchange = protocol.begin(["theme=dark; lang=en", "theme=light"], now=clock())
    assert dict(exchange.request_cookies) == {"theme": "dark", "lang": "en"}
    exchange.set_cookie(
        "theme",
        "light",
        domain="example.com",
        path="/app",
        secure=True,
        http_only=False,
        max_age=3600,
        same_site="strict",
        partitioned=True,
    )
    exchange.delete_cookie("lang", path="/")
    with pytest.raises(CookieError):
        exchange.set_cookie("bad", "a;b")
    with pytest.raises(CookieError):
        exchange.set_cookie("session", "x")
    exchange.finish()
    theme, lang = exchange.outcome.set_cookie_headers
    name, value, attributes = parse_set_cookie(theme)
    assert (name, value) == ("theme", "light")
    assert attributes["domain"] == "example.com"
    assert attributes["path"] == "/app"
    assert attributes["max-age"] == "3600"
    assert attributes["samesite"] == "Strict"
    assert "partitioned" in attributes
    assert "httponly" not in attributes
    assert parse_set_cookie(lang)[2]["max-age"] == "0"
    # Application cookies do not make the response uncacheable on their own.
    assert exchange.outcome.headers[-1] == ("Set-Cookie", lang)


@pytest.mark.parametrize("storage", STORAGES)
def test_persistent_cookie_max_age_is_time_left(storage: StorageKind, clock: ManualClock) -> None:
    _, browser = make(storage, clock, persistent=True, idle_timeout=600, absolute_timeout=1000)
    response = browser.request(put("user", "ada"))
    attributes = parse_set_cookie(response.set_cookies[0])[2]
    assert attributes["max-age"] == "600"
    expires = email.utils.parsedate_to_datetime(attributes["expires"]).timestamp()
    assert expires == int(clock() + 600)
    clock.advance(500)  # idle would now expire at +1100, but absolute expires at +1000
    attributes = parse_set_cookie(browser.request(put("user", "x")).set_cookies[0])[2]
    assert attributes["max-age"] == "500"
    browser.close()  # a persistent cookie survives the browser closing
    assert browser.request(get("user")).value == "x"


def test_persistent_cookie_max_age_is_capped_at_400_days(clock: ManualClock) -> None:
    year = 365 * 86400
    _, browser = make(
        "cookie",
        clock,
        persistent=True,
        idle_timeout=2 * year,
        absolute_timeout=3 * year,
    )
    attributes = parse_set_cookie(browser.request(put("user", "ada")).set_cookies[0])[2]
    assert attributes["max-age"] == str(400 * 86400)


def test_browser_session_cookie_dies_with_the_browser(clock: ManualClock) -> None:
    _, browser = make("cookie", clock)
    browser.request(put("user", "ada"))
    browser.close()
    assert browser.request(get("user")).value is None


def test_too_large_session_is_a_typed_error_naming_size_and_limit(
    clock: ManualClock,
) -> None:
    _, browser = make("cookie", clock)
    with pytest.raises(SessionTooLarge) as info:
        browser.request(put("blob", "x" * 5000))
    assert info.value.limit == 4096
    assert info.value.size > 4096
    assert str(info.value.size) in str(info.value)


def test_chunked_cookies_split_reassemble_and_shrink(clock: ManualClock) -> None:
    _, browser = make("cookie", clock, cookie_chunks=4)
    big = "".join(format(i, "x") for i in range(3000))  # hard to compress, ~10 KB
    response = browser.request(put("blob", big))
    names = [parse_set_cookie(header)[0] for header in response.set_cookies]
    assert names[0] == "session"
    assert names[1:] == [f"session.{i}" for i in range(1, len(names))]
    # Name plus value, as browsers measure: every chunk but the last is full.
    sizes = [
        len(n) + len(parse_set_cookie(h)[1])
        for n, h in zip(names, response.set_cookies, strict=True)
    ]
    assert sizes[:-1] == [4096] * (len(sizes) - 1)
    assert 0 < sizes[-1] <= 4096
    assert browser.request(get("blob")).value == big
    response = browser.request(put("blob", "small"))
    assert set(browser.cookies) == {"session"}
    deleted = [parse_set_cookie(h)[0] for h in response.set_cookies if "Max-Age=0" in h]
    assert deleted == names[1:]
    assert browser.request(get("blob")).value == "small"


@pytest.mark.parametrize("damage", ["drop", "forge", "swap"])
def test_missing_or_forged_chunk_is_a_fresh_session(damage: str, clock: ManualClock) -> None:
    _, browser = make("cookie", clock, cookie_chunks=4)
    big = "".join(format(i, "x") for i in range(3000))
    browser.request(put("blob", big))
    if damage == "drop":
        browser.forget("session.1")
    elif damage == "forge":
        value = browser.cookies["session.1"]
        browser.set("session.1", ("A" if value[0] != "A" else "B") + value[1:])
    else:
        first, second = browser.cookies["session.1"], browser.cookies["session.2"]
        browser.set("session.1", second)
        browser.set("session.2", first)
    assert browser.request(lambda s: (s.get("blob"), s.ended_reason)).value == (
        None,
        "invalid",
    )


def test_chunking_has_a_limit_too(clock: ManualClock) -> None:
    _, browser = make("cookie", clock, cookie_chunks=2)
    big = "".join(format(i * 7919, "x") for i in range(5000))
    with pytest.raises(SessionTooLarge) as info:
        browser.request(put("blob", big))
    assert info.value.limit == 2 * 4096


@pytest.mark.parametrize("storage", STORAGES)
def test_rotation_opens_old_cookies_and_reseals_with_the_newest_key(
    storage: StorageKind, clock: ManualClock
) -> None:
    store = MemoryStore()
    old = SessionProtocol(Settings(keyring=Keyring([OTHER_SECRET])), storage=storage)
    browser = Browser(old, clock, store)
    browser.request(put("user", "ada"))
    rotated = SessionProtocol(
        Settings(keyring=Keyring(["the newest secret of all, 2026", OTHER_SECRET])),
        storage=storage,
    )
    browser.protocol = rotated
    assert browser.request(get("user")).value == "ada"
    browser.request(put("n", 1))
    newest_only = SessionProtocol(
        Settings(keyring=Keyring(["the newest secret of all, 2026"])), storage=storage
    )
    browser.protocol = newest_only
    assert browser.request(get("user")).value == "ada"


@pytest.mark.parametrize("storage", STORAGES)
def test_no_session_id_or_sealed_value_in_reprs(storage: StorageKind, clock: ManualClock) -> None:
    protocol, browser = make(storage, clock)
    browser.request(put("token", "s3cret-token"))
    cookie = browser.cookies["session"]
    exchange = protocol.begin(f"session={cookie}", now=clock())
    exchange.open()
    run_ops(exchange, browser.store)  # type: ignore[arg-type]
    exchange.session["more"] = 1
    texts = [
        repr(exchange),
        repr(exchange.session),
        repr(protocol),
        repr(protocol.settings),
    ]
    op = exchange.finish()
    texts.append(repr(op))
    run_ops(exchange, browser.store)  # type: ignore[arg-type]
    texts.append(repr(exchange.outcome))
    for text in texts:
        assert cookie not in text
        assert cookie[:20] not in text
        assert "s3cret-token" not in text
        assert SECRET not in text


def test_ops_carry_key_value_ttl_and_revision(clock: ManualClock) -> None:
    store = KeepEverything()
    _, browser = make("server", clock, store=store, idle_timeout=600)
    browser.request(put("user", "ada"))
    clock.advance(100)
    browser.request(put("user", "eve"))
    load, save = store.ops[1], store.ops[2]
    assert isinstance(load, Load)
    assert isinstance(save, Save)
    assert save.key == load.key
    assert save.expected_revision == 1
    assert save.new_revision == 2
    assert save.ttl == 600
    assert save.expires_at == clock() + 600
    assert save.now == clock()
    cookie_value = browser.cookies["session"]
    assert cookie_value not in save.key
    assert isinstance(store.ops[0], Save)
    assert isinstance(Delete(key="k"), Delete)


@pytest.mark.parametrize("storage", STORAGES)
def test_abandon_saves_nothing_and_later_use_is_loud(
    storage: StorageKind, clock: ManualClock
) -> None:
    protocol, browser = make(storage, clock)
    browser.request(put("user", "ada"))
    exchange = protocol.begin(browser.cookie_header(), now=clock())
    exchange.open()
    run_ops(exchange, browser.store)  # type: ignore[arg-type]
    session = exchange.session
    session["user"] = "mallory"
    exchange.abandon()
    assert exchange.state is State.ERROR
    assert exchange.next_op() is None
    with pytest.raises(ProtocolError):
        session["user"] = "eve"
    with pytest.raises(ProtocolError):
        exchange.finish()
    exchange.abandon()  # harmless once failed
    assert browser.request(get("user")).value == "ada"
