"""The op loops: saves of one session take turns, lost races back off until a deadline."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from satchel import (
    BACKOFF_CAP,
    BACKOFF_FIRST,
    AsyncSaveLocks,
    AsyncSQLiteStore,
    Conflict,
    Exchange,
    Keyring,
    MemoryStore,
    Op,
    ProtocolError,
    Result,
    Save,
    SaveLocks,
    SessionConflict,
    SessionProtocol,
    Settings,
    SQLiteStore,
    State,
    StoreError,
    arun_ops,
    run_ops,
)
from satchel._oploop import backoff_delay
from satchel.testing import ManualClock

from ..conftest import SECRET

WRITERS = 64


def protocol(**changes: Any) -> SessionProtocol:
    return SessionProtocol(Settings(keyring=Keyring([SECRET]), **changes), storage="server")


def logged_in(proto: SessionProtocol, store: Any, now: float) -> str:
    """A stored session holding ``user``; its cookie header."""
    exchange = proto.begin(None, now=now)
    exchange.open()
    exchange.session["user"] = "ada"
    exchange.finish()
    run_ops(exchange, store)
    [header] = exchange.outcome.set_cookie_headers
    return header.split(";", 1)[0]


def opened(proto: SessionProtocol, cookie: str, store: Any, now: float) -> Exchange:
    exchange = proto.begin(cookie, now=now)
    exchange.open()
    run_ops(exchange, store)
    return exchange


def stored_data(proto: SessionProtocol, cookie: str, store: Any, now: float) -> dict[str, Any]:
    exchange = opened(proto, cookie, store, now)
    return dict(exchange.session)


# -- backoff --------------------------------------------------------------------


def test_the_first_lost_race_is_retried_at_once() -> None:
    assert backoff_delay(0) == 0.0
    assert backoff_delay(1) == 0.0


@given(st.integers(min_value=2, max_value=10_000))
def test_pauses_grow_from_the_first_step_to_the_cap(conflicts: int) -> None:
    ceiling = 0.1 if conflicts > 64 else min(0.1, 0.002 * 2 ** (conflicts - 2))
    assert 0.0 <= backoff_delay(conflicts) <= ceiling


def test_the_documented_backoff_figures() -> None:
    # Pinned here because docs/configuration.md quotes them.
    assert (BACKOFF_FIRST, BACKOFF_CAP) == (0.002, 0.1)


def test_pauses_are_jittered() -> None:
    pauses = {backoff_delay(8) for _ in range(50)}
    assert len(pauses) > 40  # random, so processes that collided drift apart
    assert max(pauses) > 0.05  # and spread over the whole window up to the cap


# -- lock_key and give_up -----------------------------------------------------------


def test_lock_key_names_the_loaded_session_only(clock: ManualClock) -> None:
    proto, store = protocol(), MemoryStore()
    fresh = proto.begin(None, now=clock())
    fresh.open()
    assert fresh.lock_key is None  # nobody else can be saving a new session
    cookie = logged_in(proto, store, clock())
    exchange = opened(proto, cookie, store, clock())
    [key] = list(store._engine._records)
    assert exchange.lock_key == key
    cookie_storage = SessionProtocol(proto.settings, storage="cookie").begin(cookie, now=clock())
    cookie_storage.open()
    assert cookie_storage.lock_key is None


@pytest.mark.parametrize("stage", ["idle", "open", "done"])
def test_give_up_outside_saving_is_misuse(clock: ManualClock, stage: str) -> None:
    exchange = protocol().begin(None, now=clock())
    if stage != "idle":
        exchange.open()
    if stage == "done":
        exchange.finish()
    with pytest.raises(ProtocolError, match="give_up"):
        exchange.give_up()
    assert exchange.state is State.ERROR


# -- turns within a process -------------------------------------------------------


def test_saves_of_one_session_from_many_threads_take_turns(
    clock: ManualClock, tmp_path: Path
) -> None:
    proto = protocol()
    store = SQLiteStore(tmp_path / "sessions.sqlite3")
    cookie = logged_in(proto, store, clock())
    locks = SaveLocks()
    # Every request loads the same revision before any of them saves.
    exchanges = [opened(proto, cookie, store, clock()) for _ in range(WRITERS)]
    for index, exchange in enumerate(exchanges):
        exchange.session[f"k{index}"] = index
        exchange.finish()
    start = threading.Barrier(WRITERS)
    failures: list[BaseException] = []

    def save(exchange: Exchange) -> None:
        start.wait()
        try:
            run_ops(exchange, store, locks=locks)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=save, args=(exchange,)) for exchange in exchanges]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    # Taking turns, a save loses at most the one race against the saves
    # that went before it; it never races the others at the same time.
    assert all(exchange.outcome.conflicts_retried <= 1 for exchange in exchanges)
    assert sum(exchange.outcome.conflicts_retried for exchange in exchanges) == WRITERS - 1
    data = stored_data(proto, cookie, store, clock())
    assert data == {"user": "ada", **{f"k{index}": index for index in range(WRITERS)}}
    assert len(locks) == 0  # nothing left in the table
    store.close()


def test_saves_of_one_session_from_many_tasks_take_turns(
    clock: ManualClock, tmp_path: Path
) -> None:
    proto = protocol()
    sync_store = SQLiteStore(tmp_path / "sessions.sqlite3")
    cookie = logged_in(proto, sync_store, clock())
    sync_store.close()

    async def main() -> list[Exchange]:
        # A real asynchronous store that runs its statements on a thread, so
        # the tasks' store calls really interleave.
        store = AsyncSQLiteStore(tmp_path / "sessions.sqlite3")
        locks = AsyncSaveLocks()
        exchanges = []
        for _ in range(WRITERS):
            exchange = proto.begin(cookie, now=clock())
            exchange.open()
            await arun_ops(exchange, store)
            exchanges.append(exchange)
        for index, exchange in enumerate(exchanges):
            exchange.session[f"k{index}"] = index
            exchange.finish()
        await asyncio.gather(*(arun_ops(exchange, store, locks=locks) for exchange in exchanges))
        assert len(locks) == 0
        await store.close()
        return exchanges

    exchanges = asyncio.run(main())
    assert all(exchange.outcome.conflicts_retried <= 1 for exchange in exchanges)
    check = SQLiteStore(tmp_path / "sessions.sqlite3")
    data = stored_data(proto, cookie, check, clock())
    assert data == {"user": "ada", **{f"k{index}": index for index in range(WRITERS)}}
    check.close()


def test_two_processes_sharing_a_store_both_keep_every_write(
    clock: ManualClock, tmp_path: Path
) -> None:
    # Two lock tables are two processes: their saves do race, and the
    # backoff has to sort them out before the deadline.
    proto = protocol()
    path = tmp_path / "sessions.sqlite3"
    cookie = logged_in(proto, SQLiteStore(path), clock())
    processes = [(SaveLocks(), SQLiteStore(path)), (SaveLocks(), SQLiteStore(path))]
    exchanges: list[tuple[Exchange, SaveLocks, SQLiteStore]] = []
    for index in range(WRITERS):
        locks, store = processes[index % 2]
        exchange = opened(proto, cookie, store, clock())
        exchange.session[f"k{index}"] = index
        exchange.finish()
        exchanges.append((exchange, locks, store))
    start = threading.Barrier(WRITERS)
    failures: list[BaseException] = []

    def save(exchange: Exchange, locks: SaveLocks, store: SQLiteStore) -> None:
        start.wait()
        try:
            run_ops(exchange, store, locks=locks)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=save, args=item) for item in exchanges]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    data = stored_data(proto, cookie, processes[0][1], clock())
    assert data == {"user": "ada", **{f"k{index}": index for index in range(WRITERS)}}
    assert [len(locks) for locks, _ in processes] == [0, 0]


def test_the_same_key_written_concurrently_last_writer_wins(clock: ManualClock) -> None:
    proto, store, locks = protocol(), MemoryStore(), SaveLocks()
    cookie = logged_in(proto, store, clock())
    exchanges = [opened(proto, cookie, store, clock()) for _ in range(8)]
    for index, exchange in enumerate(exchanges):
        exchange.session["colour"] = f"c{index}"
        exchange.finish()
    for exchange in exchanges:
        run_ops(exchange, store, locks=locks)
    # Every request succeeded; the one saved last holds the key.
    assert stored_data(proto, cookie, store, clock())["colour"] == "c7"


# -- the deadline ---------------------------------------------------------------------


class OtherProcessAlwaysWins:
    """A real memory store whose updates always lose to a writer elsewhere."""

    def __init__(self) -> None:
        self.store = MemoryStore()

    def execute(self, op: Op) -> Result:
        if isinstance(op, Save) and op.expected_revision is not None:
            return Conflict()
        return self.store.execute(op)


def test_a_save_waiting_too_long_for_its_turn_gives_up(clock: ManualClock) -> None:
    proto, store, locks = protocol(conflict_deadline=0.2), MemoryStore(), SaveLocks()
    cookie = logged_in(proto, store, clock())
    exchange = opened(proto, cookie, store, clock())
    exchange.session["n"] = 1
    exchange.finish()
    key = exchange.lock_key
    assert key is not None
    assert locks.acquire(key, 0)  # a save that never ends holds the turn
    started = time.monotonic()
    with pytest.raises(SessionConflict, match="ahead of it"):
        run_ops(exchange, store, locks=locks)
    assert time.monotonic() - started >= 0.2
    assert exchange.state is State.ERROR
    assert len(locks) == 1  # only the holder
    locks.release(key)
    assert len(locks) == 0
    assert stored_data(proto, cookie, store, clock()) == {"user": "ada"}


def test_a_lost_save_keeps_retrying_until_the_deadline_then_gives_up(
    clock: ManualClock,
) -> None:
    store = OtherProcessAlwaysWins()
    proto, locks = protocol(conflict_deadline=0.3), SaveLocks()
    cookie = logged_in(proto, store, clock())
    exchange = opened(proto, cookie, store, clock())
    exchange.session["n"] = 1
    exchange.finish()
    started = time.monotonic()
    with pytest.raises(SessionConflict, match="kept changing") as info:
        run_ops(exchange, store, locks=locks)
    elapsed = time.monotonic() - started
    assert elapsed >= 0.3 - BACKOFF_CAP  # it gave up only when the next pause would pass it
    assert info.value.conflicts > 3
    assert isinstance(info.value, StoreError)  # answered like a store failure
    assert len(locks) == 0


def test_the_turn_is_released_when_the_store_fails(clock: ManualClock) -> None:
    proto, store, locks = protocol(), MemoryStore(), SaveLocks()

    class FailsOnSave:
        def execute(self, op: Op) -> Result:
            if isinstance(op, Save):
                raise StoreError("store unreachable")
            return store.execute(op)

    cookie = logged_in(proto, store, clock())
    broken = FailsOnSave()
    exchange = opened(proto, cookie, broken, clock())
    exchange.session["n"] = 1
    exchange.finish()
    with pytest.raises(StoreError, match="unreachable"):
        run_ops(exchange, broken, locks=locks)
    assert len(locks) == 0


def test_a_task_cancelled_while_waiting_for_its_turn_leaves_nothing_behind(
    clock: ManualClock,
) -> None:
    async def main() -> None:
        locks = AsyncSaveLocks()
        assert await locks.acquire("k", 1.0)
        waiter = asyncio.ensure_future(locks.acquire("k", 10.0))
        await asyncio.sleep(0.01)
        assert len(locks) == 1
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        locks.release("k")
        assert len(locks) == 0
        assert await locks.acquire("k", 0.0)  # and the turn is free again
        locks.release("k")

    asyncio.run(main())


def test_an_async_wait_for_the_turn_is_bounded() -> None:
    async def main() -> None:
        locks = AsyncSaveLocks()
        assert await locks.acquire("k", 1.0)
        started = time.monotonic()
        assert not await locks.acquire("k", 0.05)
        assert time.monotonic() - started >= 0.05
        locks.release("k")
        assert len(locks) == 0

    asyncio.run(main())


def test_turns_are_per_session(clock: ManualClock) -> None:
    locks = SaveLocks()
    assert locks.acquire("a", 0)
    assert locks.acquire("b", 0)  # another session is not held up
    assert not locks.acquire("a", 0)
    locks.release("a")
    locks.release("b")
    assert len(locks) == 0
