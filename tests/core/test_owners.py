"""Sessions tied to an owner: listing them and ending them, with an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from satchel import (
    AsyncMemoryStore,
    Delete,
    Ended,
    EndOwned,
    Keyring,
    ListOwned,
    MemoryStore,
    Owned,
    OwnerIndexUnavailable,
    ProtocolError,
    Save,
    Session,
    SessionProtocol,
    Settings,
    SQLiteStore,
    aend_session,
    aend_sessions,
    alist_sessions,
    end_session,
    end_sessions,
    list_sessions,
    run_ops,
    session_handle,
)
from satchel._record import EMPTY_MAP_BLOB, Record, pack_record, read_header
from satchel.testing import Browser, ManualClock

from ..conftest import SECRET


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryStore()
    else:
        sqlite = SQLiteStore(tmp_path / "sessions.db")
        yield sqlite
        sqlite.close()


def protocol_for(**overrides: Any) -> SessionProtocol:
    settings = Settings(keyring=Keyring([SECRET]), **overrides)
    return SessionProtocol(settings, storage="server", owner_index=True)


def login(owner: str, label: str | None = None) -> Any:
    def handler(session: Session) -> None:
        session.regenerate(owner=owner)
        session["user"] = owner
        if label is not None:
            session.label = label

    return handler


def whoami(session: Session) -> tuple[str | None, Any, str | None]:
    return session.owner, session.get("user"), session.ended_reason


# -- the owner in the session --------------------------------------------------


def test_the_owner_is_kept_and_read_back(store: Any, clock: ManualClock) -> None:
    browser = Browser(protocol_for(), clock, store)
    assert browser.request(lambda s: s.owner).value is None
    browser.request(login("user-42", "Firefox on Linux"))
    clock.advance(10)
    assert browser.request(lambda s: (s.owner, s.label, s["user"])).value == (
        "user-42",
        "Firefox on Linux",
        "user-42",
    )


def test_setting_the_owner_gives_a_new_id(store: Any, clock: ManualClock) -> None:
    browser = Browser(protocol_for(), clock, store)
    browser.request(lambda s: s.__setitem__("cart", ["tea"]))
    before = browser.cookies["session"]
    response = browser.request(login("ada"))
    assert browser.cookies["session"] != before
    assert response.ops == ("Load", "Save", "Delete")
    # The data came along; the old ID no longer opens anything.
    assert browser.request(lambda s: (s.owner, s["cart"])).value == ("ada", ["tea"])
    other = Browser(protocol_for(), clock, store)
    other.set("session", before)
    assert other.request(whoami).value == (None, None, "ended")


def test_an_owner_alone_is_worth_storing(store: Any, clock: ManualClock) -> None:
    browser = Browser(protocol_for(), clock, store)
    response = browser.request(lambda s: s.regenerate(owner="ada"))
    assert response.ops == ("Save",)
    assert browser.request(lambda s: s.owner).value == "ada"


def test_logging_out_clears_the_owner(store: Any, clock: ManualClock) -> None:
    protocol = protocol_for()
    browser = Browser(protocol, clock, store)
    browser.request(login("ada"))
    browser.request(lambda s: s.invalidate())
    assert browser.request(whoami).value == (None, None, None)
    assert list_sessions(store, protocol, "ada", now=clock()) == []


def test_regenerate_without_owner_keeps_it_and_none_unties_it(
    store: Any, clock: ManualClock
) -> None:
    protocol = protocol_for()
    browser = Browser(protocol, clock, store)
    browser.request(login("ada"))
    browser.request(lambda s: s.regenerate())
    assert browser.request(lambda s: s.owner).value == "ada"
    assert len(list_sessions(store, protocol, "ada", now=clock())) == 1
    browser.request(lambda s: s.regenerate(owner=None))
    assert browser.request(lambda s: (s.owner, s["user"])).value == (None, "ada")
    assert list_sessions(store, protocol, "ada", now=clock()) == []


@pytest.mark.parametrize(
    ("owner", "error"),
    [
        ("", ValueError),
        ("x" * 129, ValueError),
        ("é" * 65, ValueError),  # 130 UTF-8 bytes
        ("line\nbreak", ValueError),
        ("\x00", ValueError),
        (42, TypeError),
        (b"ada", TypeError),
    ],
)
def test_a_bad_owner_is_refused_at_once(
    owner: Any, error: type[Exception], clock: ManualClock
) -> None:
    browser = Browser(protocol_for(), clock, MemoryStore())
    with pytest.raises(error, match="owner"):
        browser.request(lambda s: s.regenerate(owner=owner))


def test_the_longest_owner_and_label_fit(store: Any, clock: ManualClock) -> None:
    browser = Browser(protocol_for(), clock, store)
    owner, label = "é" * 64, "l" * 128  # 128 UTF-8 bytes each
    browser.request(login(owner, label))
    assert browser.request(lambda s: (s.owner, s.label)).value == (owner, label)


@pytest.mark.parametrize(("label", "error"), [("x" * 129, ValueError), (7, TypeError)])
def test_a_bad_label_is_refused_at_once(label: Any, error: type[Exception]) -> None:
    browser = Browser(protocol_for(), ManualClock(), MemoryStore())
    with pytest.raises(error, match="label"):
        browser.request(lambda s: setattr(s, "label", label))


def test_an_empty_label_is_no_label(clock: ManualClock) -> None:
    browser = Browser(protocol_for(), clock, MemoryStore())
    browser.request(login("ada", "Safari"))
    browser.request(lambda s: setattr(s, "label", ""))
    assert browser.request(lambda s: s.label).value is None


def test_a_label_change_alone_is_saved(clock: ManualClock) -> None:
    browser = Browser(protocol_for(), clock, MemoryStore())
    browser.request(login("ada"))
    response = browser.request(lambda s: setattr(s, "label", "Edge"))
    assert response.ops == ("Load", "Save")
    # Setting the same label again changes nothing.
    assert browser.request(lambda s: setattr(s, "label", "Edge")).ops == ("Load",)


def test_cookie_storage_keeps_the_owner_but_cannot_end_or_list(clock: ManualClock) -> None:
    settings = Settings(keyring=Keyring([SECRET]))
    protocol = SessionProtocol(settings, storage="cookie")
    browser = Browser(protocol, clock)
    browser.request(login("ada", "Firefox"))
    assert browser.request(lambda s: (s.owner, s.label)).value == ("ada", "Firefox")
    with pytest.raises(OwnerIndexUnavailable, match="cookies cannot be listed or ended"):
        browser.request(lambda s: s.end_other_sessions())
    with pytest.raises(OwnerIndexUnavailable):
        protocol.end_sessions("ada", now=clock())
    with pytest.raises(OwnerIndexUnavailable):
        protocol.list_sessions("ada", now=clock())


def test_a_store_without_an_owner_index_refuses_clearly(clock: ManualClock) -> None:
    settings = Settings(keyring=Keyring([SECRET]))
    protocol = SessionProtocol(settings, storage="server")  # owner_index not claimed
    browser = Browser(protocol, clock, MemoryStore())
    browser.request(login("ada"))
    assert browser.request(lambda s: s.owner).value == "ada"
    with pytest.raises(OwnerIndexUnavailable, match="owner_index"):
        browser.request(lambda s: s.end_other_sessions())
    with pytest.raises(OwnerIndexUnavailable, match="owner_index"):
        end_sessions(MemoryStore(), protocol, "ada", now=clock())


def test_end_other_sessions_needs_an_owner(clock: ManualClock) -> None:
    browser = Browser(protocol_for(), clock, MemoryStore())
    with pytest.raises(ProtocolError, match="without an owner"):
        browser.request(lambda s: s.end_other_sessions())


# -- listing -------------------------------------------------------------------


def test_listing_shows_each_device_and_never_the_id(store: Any, clock: ManualClock) -> None:
    protocol = protocol_for()
    browsers = [Browser(protocol, clock, store) for _ in range(3)]
    for index, browser in enumerate(browsers):
        browser.request(login("ada", f"device {index}"))
        clock.advance(1)
    Browser(protocol, clock, store).request(login("bob"))
    clock.advance(1)
    current = browsers[1].request(lambda s: s.handle).value
    sessions = list_sessions(store, protocol, "ada", now=clock(), current=current)
    assert [info.label for info in sessions] == ["device 2", "device 1", "device 0"]
    assert [info.current for info in sessions] == [False, True, False]
    assert all(info.created_at == info.last_seen for info in sessions)
    assert len({info.handle for info in sessions}) == 3
    cookies = [browser.cookies["session"] for browser in browsers]
    for info in sessions:
        assert all(info.handle not in cookie for cookie in cookies)
        assert all(part not in info.handle for cookie in cookies for part in (cookie[:16],))


def test_last_seen_moves_at_touch_granularity(clock: ManualClock) -> None:
    protocol = protocol_for(idle_timeout=1000, touch_interval=100)
    store = MemoryStore()
    browser = Browser(protocol, clock, store)
    browser.request(login("ada"))
    created = clock()
    clock.advance(50)
    browser.request(lambda s: s.get("user"))  # within the touch interval: no save
    [info] = list_sessions(store, protocol, "ada", now=clock())
    assert info.last_seen == created
    clock.advance(60)
    browser.request(lambda s: s.get("user"))
    [info] = list_sessions(store, protocol, "ada", now=clock())
    assert (info.created_at, info.last_seen) == (created, created + 110)


def test_listing_leaves_out_timed_out_sessions(clock: ManualClock) -> None:
    protocol = protocol_for(idle_timeout=100, touch_interval=10)
    store = MemoryStore()
    old, fresh = Browser(protocol, clock, store), Browser(protocol, clock, store)
    old.request(login("ada"))
    clock.advance(60)
    fresh.request(login("ada"))
    clock.advance(40)
    assert [info.created_at for info in list_sessions(store, protocol, "ada", now=clock())] == [
        clock() - 40
    ]


def test_records_of_another_owner_or_malformed_are_left_out(clock: ManualClock) -> None:
    protocol = protocol_for()
    now = clock()
    good = Browser(protocol, clock, MemoryStore())
    good.request(login("ada"))
    [(_, value)] = good.store.execute(ListOwned(owner="ada", now=now)).records  # type: ignore[union-attr]
    result = Owned(records=(("k1", value), ("k2", b"\x07garbage"), ("k3", b"")))
    assert [info.handle for info in protocol.read_sessions("ada", result, now=now)] == [
        session_handle("k1")
    ]
    assert protocol.read_sessions("bob", result, now=now) == []


def test_read_sessions_refuses_a_wrong_answer() -> None:
    with pytest.raises(ProtocolError, match="does not answer ListOwned"):
        protocol_for().read_sessions("ada", Ended(count=0), now=0.0)


# -- ending --------------------------------------------------------------------


def test_end_other_sessions_from_a_request(store: Any, clock: ManualClock) -> None:
    protocol = protocol_for()
    browsers = [Browser(protocol, clock, store) for _ in range(3)]
    for browser in browsers:
        browser.request(login("ada"))
    bob = Browser(protocol, clock, store)
    bob.request(login("bob"))
    response = browsers[0].request(lambda s: s.end_other_sessions())
    assert response.outcome.sessions_ended == 2
    assert response.ops == ("Load", "EndOwned")
    assert browsers[0].request(whoami).value == ("ada", "ada", None)
    for browser in browsers[1:]:
        assert browser.request(whoami).value == (None, None, "ended")
    assert bob.request(whoami).value == ("bob", "bob", None)
    assert len(list_sessions(store, protocol, "ada", now=clock())) == 1


def test_login_and_end_the_others_in_one_request(store: Any, clock: ManualClock) -> None:
    protocol = protocol_for()
    laptop, phone = Browser(protocol, clock, store), Browser(protocol, clock, store)
    laptop.request(login("ada"))

    def login_elsewhere(session: Session) -> None:
        login("ada")(session)
        session.end_other_sessions()

    response = phone.request(login_elsewhere)
    assert response.outcome.sessions_ended == 1
    assert response.ops == ("EndOwned", "Save")
    assert laptop.request(whoami).value == (None, None, "ended")
    assert phone.request(whoami).value == ("ada", "ada", None)


def test_end_sessions_from_outside_any_request(store: Any, clock: ManualClock) -> None:
    protocol = protocol_for()
    browsers = [Browser(protocol, clock, store) for _ in range(4)]
    for browser in browsers:
        browser.request(login("ada"))
    assert end_sessions(store, protocol, "ada", now=clock()) == 4
    assert end_sessions(store, protocol, "ada", now=clock()) == 0
    for browser in browsers:
        assert browser.request(whoami).value == (None, None, "ended")
    assert list_sessions(store, protocol, "ada", now=clock()) == []


def test_protocol_end_sessions_is_the_op_to_run(clock: ManualClock) -> None:
    protocol = protocol_for()
    store = MemoryStore()
    Browser(protocol, clock, store).request(login("ada"))
    op = protocol.end_sessions("ada", now=clock())
    assert op == EndOwned(owner="ada", now=clock())
    assert store.execute(op).count == 1  # type: ignore[union-attr]


def test_end_one_listed_session(store: Any, clock: ManualClock) -> None:
    protocol = protocol_for()
    laptop, phone = Browser(protocol, clock, store), Browser(protocol, clock, store)
    laptop.request(login("ada", "laptop"))
    phone.request(login("ada", "phone"))
    [phone_info] = [
        info for info in list_sessions(store, protocol, "ada", now=clock()) if info.label == "phone"
    ]
    # Another owner cannot end it with its handle.
    assert not end_session(store, protocol, "bob", phone_info.handle, now=clock())
    assert end_session(store, protocol, "ada", phone_info.handle, now=clock())
    assert not end_session(store, protocol, "ada", phone_info.handle, now=clock())
    assert phone.request(whoami).value == (None, None, "ended")
    assert laptop.request(whoami).value == ("ada", "ada", None)


def test_a_save_racing_end_all_cannot_revive_the_session(clock: ManualClock) -> None:
    protocol = protocol_for()
    store = MemoryStore()
    browser = Browser(protocol, clock, store)
    browser.request(login("ada"))
    slow = protocol.begin(browser.cookie_header(), now=clock())
    slow.open()
    run_ops(slow, store)
    slow.session["cart"] = ["tea"]
    assert end_sessions(store, protocol, "ada", now=clock()) == 1
    slow.finish()
    run_ops(slow, store)
    assert slow.outcome.discarded_by_logout
    assert list_sessions(store, protocol, "ada", now=clock()) == []
    assert browser.request(whoami).value == (None, None, "ended")


def test_a_login_after_end_all_survives(clock: ManualClock) -> None:
    protocol = protocol_for()
    store = MemoryStore()
    old = Browser(protocol, clock, store)
    old.request(login("ada"))
    # A login whose save comes after "end all" ran is a session that did not
    # exist then: it lives; the one that existed does not.
    new = protocol.begin(None, now=clock())
    new.open()
    login("ada")(new.session)
    assert end_sessions(store, protocol, "ada", now=clock()) == 1
    new.finish()
    run_ops(new, store)
    assert len(list_sessions(store, protocol, "ada", now=clock())) == 1
    assert old.request(whoami).value == (None, None, "ended")


def test_the_cap_ends_the_least_recently_used(store: Any, clock: ManualClock) -> None:
    protocol = protocol_for(max_sessions_per_owner=3)
    browsers = [Browser(protocol, clock, store) for _ in range(5)]
    for index, browser in enumerate(browsers[:3]):
        browser.request(login("ada", f"device {index}"))
        clock.advance(200)
    browsers[0].request(lambda s: s.__setitem__("seen", True))  # device 0 used again
    clock.advance(200)
    browsers[3].request(login("ada", "device 3"))
    labels = {info.label for info in list_sessions(store, protocol, "ada", now=clock())}
    assert labels == {"device 0", "device 2", "device 3"}
    assert browsers[1].request(whoami).value == (None, None, "ended")
    clock.advance(200)
    browsers[4].request(login("ada", "device 4"))
    labels = {info.label for info in list_sessions(store, protocol, "ada", now=clock())}
    assert labels == {"device 0", "device 3", "device 4"}


def test_the_cap_setting_is_checked() -> None:
    from satchel import ConfigurationError

    bad: Any
    for bad in (0, -1, 100_001, 1.5, True, "10"):
        with pytest.raises(ConfigurationError, match="max_sessions_per_owner"):
            Settings(keyring=Keyring([SECRET]), max_sessions_per_owner=bad)


def test_deleting_a_session_unfiles_it_and_sweeping_too(clock: ManualClock) -> None:
    protocol = protocol_for(idle_timeout=100, touch_interval=10)
    store = MemoryStore()
    browser = Browser(protocol, clock, store)
    browser.request(login("ada"))
    clock.advance(100)
    assert store.sweep(clock()) == 1
    assert store.execute(ListOwned(owner="ada", now=clock())) == Owned(records=())
    assert store._engine._owners == {}  # nothing left behind for the owner


# -- the ops, as a driver sees them -----------------------------------------------


def test_saves_carry_the_owner_and_the_cap(clock: ManualClock) -> None:
    protocol = protocol_for(max_sessions_per_owner=7)
    seen: list[Any] = []

    class Recording:
        def __init__(self) -> None:
            self.inner = MemoryStore()

        def execute(self, op: Any) -> Any:
            seen.append(op)
            return self.inner.execute(op)

    browser = Browser(protocol, clock, Recording())
    browser.request(lambda s: s.__setitem__("x", 1))
    browser.request(login("ada"))
    save_plain, _, save_owned, delete_old = seen
    assert isinstance(save_plain, Save)
    assert save_plain.owner is None
    assert save_plain.max_owned is None
    assert isinstance(save_owned, Save)
    assert (save_owned.owner, save_owned.max_owned) == ("ada", 7)
    assert delete_old == Delete(key=save_plain.key)  # it had no owner
    seen.clear()
    browser.request(lambda s: s.invalidate())
    assert seen[-1] == Delete(key=save_owned.key, owner="ada")


def test_records_without_owner_keep_the_first_format(clock: ManualClock) -> None:
    store = MemoryStore()
    browser = Browser(protocol_for(), clock, store)
    browser.request(lambda s: s.__setitem__("x", 1))
    [(value, _, _, _)] = store._engine._records.values()
    assert value[0] == 1
    browser.request(login("ada"))
    [(value, _, _, _)] = store._engine._records.values()
    assert value[0] == 2
    record = Record.unpack(value)
    assert record is not None
    assert record.owner == "ada"


# -- the asynchronous helpers ------------------------------------------------------


def test_async_helpers(clock: ManualClock) -> None:
    protocol = protocol_for()
    sync_view = MemoryStore()
    store = AsyncMemoryStore()
    store._engine = sync_view._engine  # one engine: the browser saves, the helpers read
    browsers = [Browser(protocol, clock, sync_view) for _ in range(3)]
    for index, browser in enumerate(browsers):
        browser.request(login("ada", str(index)))

    async def scenario() -> tuple[int, bool, int]:
        listed = await alist_sessions(store, protocol, "ada", now=clock())
        ended_one = await aend_session(store, protocol, "ada", listed[0].handle, now=clock())
        ended = await aend_sessions(store, protocol, "ada", now=clock())
        return len(listed), ended_one, ended

    assert asyncio.run(scenario()) == (3, True, 2)


# -- the record's second version ------------------------------------------------------


def _owned_record(owner: bytes, label: bytes) -> bytes:
    import struct

    header = struct.pack(">BddIBB", 2, 1.0, 2.0, len(EMPTY_MAP_BLOB), len(owner), len(label))
    return header + owner + label + EMPTY_MAP_BLOB + EMPTY_MAP_BLOB


def test_the_second_version_round_trips_and_reads_its_header() -> None:
    raw = pack_record(
        created_at=1.0,
        last_access=2.0,
        flash_blob=EMPTY_MAP_BLOB,
        data_blob=EMPTY_MAP_BLOB,
        owner="ada",
        label="Firefox",
    )
    assert raw == _owned_record(b"ada", b"Firefox")
    record = Record.unpack(raw)
    assert record is not None
    assert (record.owner, record.label, record.data) == ("ada", "Firefox", {})
    assert read_header(raw) == (1.0, 2.0, "ada", "Firefox")
    assert read_header(_owned_record(b"", b"tablet")) == (1.0, 2.0, None, "tablet")


@pytest.mark.parametrize(
    "raw",
    [
        _owned_record(b"", b""),  # neither: version 1 is the only spelling
        _owned_record(b"\xff\xfe", b""),  # not UTF-8
        _owned_record(b"a\nb", b""),  # a control character
        _owned_record(b"ada", b"\x1b[31m"),
        _owned_record(b"x" * 129, b""),  # longer than an owner may be
        _owned_record(b"ada", b"x" * 129),
        _owned_record(b"ada", b"")[:24],  # cut inside the owner
        _owned_record(b"ada", b"")[:22],  # cut inside the header
    ],
)
def test_a_malformed_second_version_is_no_record(raw: bytes) -> None:
    assert Record.unpack(raw) is None
    assert Record.unpack(raw, authenticated=True) is None
    assert read_header(raw) is None


def test_an_unknown_version_is_no_header() -> None:
    assert read_header(b"\x03" + _owned_record(b"ada", b"")[1:]) is None
    assert read_header(b"") is None


# -- the adapters' runtime -------------------------------------------------------------


class _NoIndex:
    """A store that keeps no owner index (as a third-party driver may not)."""

    def __init__(self) -> None:
        self.inner = MemoryStore()

    def execute(self, op: Any) -> Any:
        return self.inner.execute(op)


def _options(store: Any, flavour: str, clock: ManualClock) -> Any:
    from satchel import AdapterOptions

    return AdapterOptions[Any](
        settings=Settings(keyring=Keyring([SECRET])),
        store=store,
        flavour=flavour,  # type: ignore[arg-type]
        framework="test",
        clock=clock,
    )


def test_the_runtime_reads_the_index_off_the_store(clock: ManualClock) -> None:
    assert _options(MemoryStore(), "sync", clock).protocol.owner_index
    assert _options(MemoryStore(), "any", clock).protocol.owner_index  # through ThreadedStore
    assert _options(AsyncMemoryStore(), "async", clock).protocol.owner_index
    assert not _options(_NoIndex(), "sync", clock).protocol.owner_index
    assert not _options(None, "sync", clock).protocol.owner_index


def test_the_sync_runtime_lists_and_ends(clock: ManualClock) -> None:
    import logging

    from satchel import SessionRuntime

    store = MemoryStore()
    runtime = SessionRuntime(_options(store, "sync", clock), logging.getLogger("test"))
    browsers = [Browser(runtime.protocol, clock, store) for _ in range(3)]
    for index, browser in enumerate(browsers):
        browser.request(login("ada", str(index)))
    listed = runtime.list_sessions("ada", current=browsers[0].request(lambda s: s.handle).value)
    assert [info.current for info in listed].count(True) == 1
    assert runtime.end_session("ada", listed[0].handle)
    assert runtime.end_sessions("ada") == 2
    assert runtime.list_sessions("ada") == []


def test_the_async_runtime_lists_and_ends(clock: ManualClock) -> None:
    import logging

    from satchel import AsyncSessionRuntime

    sync_view = MemoryStore()
    runtime = AsyncSessionRuntime(_options(sync_view, "any", clock), logging.getLogger("test"))
    for index in range(2):
        Browser(runtime.protocol, clock, sync_view).request(login("ada", str(index)))

    async def scenario() -> tuple[int, bool, int]:
        listed = await runtime.list_sessions("ada")
        one = await runtime.end_session("ada", listed[0].handle)
        return len(listed), one, await runtime.end_sessions("ada")

    assert asyncio.run(scenario()) == (2, True, 1)


def test_the_runtime_refuses_without_an_index(clock: ManualClock) -> None:
    import logging

    from satchel import SessionRuntime

    cookie = SessionRuntime(_options(None, "sync", clock), logging.getLogger("test"))
    plain = SessionRuntime(_options(_NoIndex(), "sync", clock), logging.getLogger("test"))
    for runtime in (cookie, plain):
        with pytest.raises(OwnerIndexUnavailable):
            runtime.end_sessions("ada")
        with pytest.raises(OwnerIndexUnavailable):
            runtime.list_sessions("ada")
        with pytest.raises(OwnerIndexUnavailable):
            runtime.end_session("ada", "handle")
