"""The store conformance suite: one set of pytest tests every driver must pass.

A driver's test module subclasses `StoreConformance` (sync drivers) or
`AsyncStoreConformance` (async drivers) and provides one fixture, ``store``;
every test of the suite then runs against that store. The suite needs no
pytest plugin: the async class owns an `asyncio.Runner` per test.

Keys are fresh random strings in every test, so a store on a shared server
need not be emptied between tests, but the ``sweep`` test is exact only if
no other test or process writes expired records to the store at the same
time: give each test its own table or database when you can.

Time: ops carry a fixed clock reading (`NOW`) and the store must judge expiry
by the op's ``now`` and ``expires_at`` alone. A store whose server expires
records itself (Redis) sets ``native_expiry = True``; the expiry tests then
write records with a short real TTL (``native_ttl``) and sleep
(``native_expiry_wait``) until the server has dropped them, and the sweep test
is skipped. A store with a ``sweep(now)`` method gets the sweep test.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Generator, Iterator
from typing import Any, ClassVar, Final, Protocol, TypeAlias, TypeVar

import pytest

from .._ops import (
    Conflict,
    Delete,
    Deleted,
    Ended,
    EndOwned,
    ListOwned,
    Load,
    Loaded,
    Missing,
    Op,
    Owned,
    Result,
    Save,
    Saved,
)

__all__ = ["AsyncStoreConformance", "StoreConformance"]

_T = TypeVar("_T")

NOW = 1_700_000_000.0
"""The clock reading the suite's ops carry (a fixed time, never the real one)."""

TTL = 3600.0
"""The TTL of records that must stay live for a whole test."""

Program: TypeAlias = Generator[Op, Result, None]
"""A client of the store in the op-loop style the adapters use: it yields
ops, is sent each op's result, and returns when done."""

Execute: TypeAlias = Callable[[Op], Result]
"""Carries out one op on the store under test and returns its result."""

Sweep: TypeAlias = Callable[[float], int]
"""Calls the store's ``sweep(now)`` and returns how many records it freed."""

RunConcurrently: TypeAlias = Callable[[list[Program]], None]
"""Runs client programs at the same time and returns when all have finished."""


class RunCoroutine(Protocol):
    """Runs a coroutine to completion on the test's event loop."""

    def __call__(self, coro: Coroutine[Any, Any, _T], /) -> _T:
        """Return the coroutine's result."""
        ...


# Bounds a client's conflict retries, so a store whose compare-and-set never
# succeeds fails the test instead of hanging it.
_MAX_ATTEMPTS = 1000
_THREAD_TIMEOUT = 60.0


def _increment(key: str, now: float) -> Program:
    """Read a counter, add one, and save it back, retrying on `Conflict`."""
    for _ in range(_MAX_ATTEMPTS):
        loaded = yield Load(key=key, now=now)
        assert isinstance(loaded, Loaded), loaded
        value = str(int(loaded.value) + 1).encode()
        saved = yield StoreConformance.save(key, value, loaded.revision, now=now)
        if isinstance(saved, Saved):
            return
        assert isinstance(saved, Conflict), saved
    raise AssertionError(f"no increment succeeded in {_MAX_ATTEMPTS} attempts")


def _save_once(op: Save, results: list[Result]) -> Program:
    results.append((yield op))


class StoreConformance:
    """Conformance tests for a synchronous store driver.

    Subclass it in a test module under a name pytest collects, and give it a
    ``store`` fixture that yields a store holding no records::

        import pytest
        from satchel.testing import StoreConformance

        class TestMyStore(StoreConformance):
            @pytest.fixture
            def store(self, tmp_path):
                store = MyStore(tmp_path / "sessions")
                yield store
                store.close()

    The other fixtures (``execute``, ``sweep``, ``run_concurrently``,
    ``new_key``) adapt the tests to the store's flavour and need no
    overriding. Each test's docstring states the rule it checks.

    Attributes:
        native_expiry: set to ``True`` if the store's server expires records
            by their TTL (the expiry tests then sleep instead of moving the
            op's clock).
        native_ttl: the TTL, in seconds, of short-lived records when
            `native_expiry` is on.
        native_expiry_wait: how long to sleep for such a record to expire.
        concurrency: how many clients the concurrency tests run at once.
        owner_index: whether the store keeps an owner index (its
            ``owner_index`` attribute, docs/owners.md). When ``True`` (the
            default) the owner tests run; set it to ``False`` for a driver
            without one: the owner tests are then not collected, and one test
            checks that the store does not claim an index.

    """

    native_expiry: ClassVar[bool] = False
    native_ttl: ClassVar[float] = 1.0
    native_expiry_wait: ClassVar[float] = 1.5
    concurrency: ClassVar[int] = 8
    owner_index: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.owner_index:
            # Not collected: a driver without an index has nothing to check there.
            for name in _OWNER_TESTS:
                setattr(cls, name, None)

    # -- fixtures a driver provides or may adapt ---------------------------------

    @pytest.fixture
    def store(self) -> Any:
        """The store under test, holding no records. Override this."""
        raise NotImplementedError(f"{type(self).__name__} must define a `store` fixture")

    @pytest.fixture
    def execute(self, store: Any) -> Execute:
        """Carry out one op on the store and return its result."""
        execute: Execute = store.execute
        return execute

    @pytest.fixture
    def sweep(self, store: Any) -> Sweep | None:
        """The store's ``sweep(now)``, or ``None`` if it has none."""
        if not callable(getattr(store, "sweep", None)):
            return None
        sweep: Sweep = store.sweep
        return sweep

    @pytest.fixture
    def run_concurrently(self, store: Any) -> RunConcurrently:
        """Run client programs at once, one thread each, until all finish."""

        def drive(programs: list[Program]) -> None:
            start = threading.Barrier(len(programs))
            errors: list[BaseException] = []

            def client(program: Program) -> None:
                try:
                    start.wait(timeout=_THREAD_TIMEOUT)
                    op = next(program)
                    while True:
                        result = store.execute(op)
                        try:
                            op = program.send(result)
                        except StopIteration:
                            return
                except BaseException as exc:  # reported by the test thread
                    errors.append(exc)

            threads = [threading.Thread(target=client, args=(p,)) for p in programs]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=_THREAD_TIMEOUT)
            assert not any(thread.is_alive() for thread in threads), "client hung"
            if errors:
                raise errors[0]

        return drive

    @pytest.fixture
    def new_key(self) -> Callable[[], str]:
        """Make keys no other test (or earlier run) has used."""
        prefix = f"satchel-conformance:{uuid.uuid4().hex}:"
        counter = iter(range(1_000_000))
        return lambda: f"{prefix}{next(counter)}"

    # -- helpers -----------------------------------------------------------------

    def short_lived(self) -> tuple[float, float]:
        """``(ttl, expires_at)`` for a record that is to expire during a test."""
        if self.native_expiry:
            return self.native_ttl, NOW + self.native_ttl
        return 10.0, NOW + 10.0

    def wait_for_expiry(self, expires_at: float) -> float:
        """Let a short-lived record expire; return the clock reading to use next.

        The reading is exactly `expires_at`, since a record is expired at its
        expiry time, not after it.
        """
        if self.native_expiry:
            time.sleep(self.native_expiry_wait)
        return expires_at

    @staticmethod
    def save(
        key: str,
        value: bytes,
        expected_revision: int | None = None,
        *,
        now: float = NOW,
        ttl: float = TTL,
        expires_at: float | None = None,
        owner: str | None = None,
        max_owned: int | None = None,
    ) -> Save:
        """Build a `Save` op; the expiry defaults to `ttl` after `now`."""
        return Save(
            key=key,
            value=value,
            ttl=ttl,
            expires_at=now + ttl if expires_at is None else expires_at,
            expected_revision=expected_revision,
            now=now,
            owner=owner,
            max_owned=max_owned,
        )

    # -- loading and creating ----------------------------------------------------

    def test_load_of_missing_key_is_missing(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """A key never saved loads as `Missing`."""
        assert execute(Load(key=new_key(), now=NOW)) == Missing()

    def test_create_then_load(self, execute: Execute, new_key: Callable[[], str]) -> None:
        """A create answers `Saved(1)`; the value loads back as bytes at revision 1."""
        key = new_key()
        assert execute(self.save(key, b"first")) == Saved(revision=1)
        loaded = execute(Load(key=key, now=NOW))
        assert loaded == Loaded(value=b"first", revision=1)
        assert isinstance(loaded, Loaded)
        assert type(loaded.value) is bytes

    def test_create_over_live_record_conflicts(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """A create over a live record is a `Conflict` and changes nothing."""
        key = new_key()
        execute(self.save(key, b"first"))
        assert execute(self.save(key, b"second")) == Conflict()
        assert execute(Load(key=key, now=NOW)) == Loaded(value=b"first", revision=1)

    def test_create_over_updated_record_conflicts(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """A create conflicts with a live record at any revision."""
        key = new_key()
        execute(self.save(key, b"first"))
        execute(self.save(key, b"second", 1))
        assert execute(self.save(key, b"third")) == Conflict()
        assert execute(Load(key=key, now=NOW)) == Loaded(value=b"second", revision=2)

    def test_create_over_expired_record_succeeds(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """An expired record counts as absent: a create replaces it at revision 1."""
        key = new_key()
        ttl, expires_at = self.short_lived()
        execute(self.save(key, b"old", ttl=ttl, expires_at=expires_at))
        execute(self.save(key, b"older", 1, ttl=ttl, expires_at=expires_at))
        now = self.wait_for_expiry(expires_at)
        assert execute(self.save(key, b"new", now=now)) == Saved(revision=1)
        assert execute(Load(key=key, now=now)) == Loaded(value=b"new", revision=1)

    # -- updating ----------------------------------------------------------------

    def test_update_with_current_revision(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """A save naming the current revision succeeds and bumps it by one."""
        key = new_key()
        execute(self.save(key, b"v1"))
        assert execute(self.save(key, b"v2", 1)) == Saved(revision=2)
        assert execute(Load(key=key, now=NOW)) == Loaded(value=b"v2", revision=2)
        assert execute(self.save(key, b"v3", 2)) == Saved(revision=3)
        assert execute(Load(key=key, now=NOW)) == Loaded(value=b"v3", revision=3)

    def test_update_with_stale_revision_conflicts(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """A save naming an older revision is a `Conflict` and changes nothing."""
        key = new_key()
        execute(self.save(key, b"v1"))
        execute(self.save(key, b"v2", 1))
        assert execute(self.save(key, b"stale", 1)) == Conflict()
        assert execute(Load(key=key, now=NOW)) == Loaded(value=b"v2", revision=2)

    def test_update_with_future_revision_conflicts(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """A save naming a revision never reached is a `Conflict`."""
        key = new_key()
        execute(self.save(key, b"v1"))
        assert execute(self.save(key, b"ahead", 5)) == Conflict()
        assert execute(Load(key=key, now=NOW)) == Loaded(value=b"v1", revision=1)

    def test_update_of_missing_key_conflicts(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """An update never creates: with no record it is a `Conflict`."""
        key = new_key()
        assert execute(self.save(key, b"ghost", 1)) == Conflict()
        assert execute(Load(key=key, now=NOW)) == Missing()

    def test_update_after_delete_conflicts(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """An update racing a logout (`Delete`) never brings the session back."""
        key = new_key()
        execute(self.save(key, b"v1"))
        assert execute(Delete(key=key)) == Deleted()
        assert execute(self.save(key, b"revived", 1)) == Conflict()
        assert execute(Load(key=key, now=NOW)) == Missing()

    def test_update_of_expired_record_conflicts(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """An update of an expired record is a `Conflict`, not a revival."""
        key = new_key()
        ttl, expires_at = self.short_lived()
        execute(self.save(key, b"v1", ttl=ttl, expires_at=expires_at))
        now = self.wait_for_expiry(expires_at)
        assert execute(self.save(key, b"revived", 1, now=now)) == Conflict()
        assert execute(Load(key=key, now=now)) == Missing()

    def test_saved_revision_is_the_ops_new_revision(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """`Saved.revision` is always the op's `new_revision`."""
        key = new_key()
        revision = None
        for number in range(1, 6):
            op = self.save(key, b"%d" % number, revision)
            assert op.new_revision == number
            assert execute(op) == Saved(revision=op.new_revision)
            revision = op.new_revision

    # -- deleting ----------------------------------------------------------------

    def test_delete_then_load_is_missing(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """A deleted record loads as `Missing`."""
        key = new_key()
        execute(self.save(key, b"v1"))
        assert execute(Delete(key=key)) == Deleted()
        assert execute(Load(key=key, now=NOW)) == Missing()

    def test_delete_of_missing_key(self, execute: Execute, new_key: Callable[[], str]) -> None:
        """Deleting a key with no record answers `Deleted` too."""
        key = new_key()
        assert execute(Delete(key=key)) == Deleted()
        assert execute(Delete(key=key)) == Deleted()

    def test_create_after_delete_starts_again_at_revision_1(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """A create after a delete starts again at revision 1."""
        key = new_key()
        execute(self.save(key, b"v1"))
        execute(self.save(key, b"v2", 1))
        execute(Delete(key=key))
        assert execute(self.save(key, b"again")) == Saved(revision=1)
        assert execute(Load(key=key, now=NOW)) == Loaded(value=b"again", revision=1)

    # -- expiry ------------------------------------------------------------------

    def test_record_expires_at_its_expiry_time(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """A record is live before `expires_at` and `Missing` from it on."""
        key = new_key()
        ttl, expires_at = self.short_lived()
        execute(self.save(key, b"v1", ttl=ttl, expires_at=expires_at))
        before = NOW if self.native_expiry else expires_at - 0.001
        assert execute(Load(key=key, now=before)) == Loaded(value=b"v1", revision=1)
        now = self.wait_for_expiry(expires_at)
        assert execute(Load(key=key, now=now)) == Missing()

    def test_update_moves_the_expiry(self, execute: Execute, new_key: Callable[[], str]) -> None:
        """An update replaces the expiry, so the record outlives its old one."""
        key = new_key()
        ttl, expires_at = self.short_lived()
        execute(self.save(key, b"v1", ttl=ttl, expires_at=expires_at))
        assert execute(self.save(key, b"v2", 1)) == Saved(revision=2)
        now = self.wait_for_expiry(expires_at)
        assert execute(Load(key=key, now=now)) == Loaded(value=b"v2", revision=2)

    def test_expired_records_are_freed(
        self, execute: Execute, sweep: Sweep | None, new_key: Callable[[], str]
    ) -> None:
        """Expired records do not pile up: a store either expires them itself
        (``native_expiry``, and then has no ``sweep``), or its ``sweep(now)``
        frees and counts exactly the records expired at `now`, no others.
        """
        if sweep is None or self.native_expiry:
            assert self.native_expiry, (
                "the store has no sweep(now) and does not declare native_expiry: "
                "nothing would ever free its expired records"
            )
            assert sweep is None, "a store with native expiry needs no sweep(now)"
            return
        cutoff = NOW + 20.0
        # Clear anything an earlier test left expiring by the cutoff, so the
        # count below is this test's own.
        sweep(cutoff)
        expired = [new_key() for _ in range(5)]
        live = [new_key() for _ in range(3)]
        for offset, key in enumerate(expired):
            # Expiries up to and including the cutoff itself.
            execute(self.save(key, b"old", expires_at=cutoff - offset * 4.5))
        for key in live:
            execute(self.save(key, b"live", expires_at=cutoff + 0.5))
        # Saved to expire early, then moved past the cutoff: must survive.
        moved = new_key()
        execute(self.save(moved, b"v1", expires_at=NOW + 1.0))
        execute(self.save(moved, b"v2", 1, expires_at=cutoff + 100.0))

        assert sweep(cutoff) == len(expired)
        assert sweep(cutoff) == 0
        for key in expired:
            assert execute(Load(key=key, now=NOW)) == Missing()
        for key in live:
            assert execute(Load(key=key, now=cutoff)) == Loaded(value=b"live", revision=1)
        assert execute(Load(key=moved, now=cutoff)) == Loaded(value=b"v2", revision=2)
        # A swept key can be created afresh.
        assert execute(self.save(expired[0], b"new", now=cutoff)) == Saved(revision=1)

    # -- values and keys ---------------------------------------------------------

    def test_every_byte_value_round_trips(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """Values are opaque bytes: all 256 byte values survive, NULs included."""
        key = new_key()
        value = bytes(range(256)) + b"\x00" * 8
        execute(self.save(key, value))
        assert execute(Load(key=key, now=NOW)) == Loaded(value=value, revision=1)
        reversed_value = bytes(reversed(value))
        execute(self.save(key, reversed_value, 1))
        assert execute(Load(key=key, now=NOW)) == Loaded(value=reversed_value, revision=2)

    def test_large_value_round_trips(self, execute: Execute, new_key: Callable[[], str]) -> None:
        """A 64 KiB value survives unchanged."""
        key = new_key()
        # 64 KiB that no compression or encoding slip could pass unnoticed.
        value = b"".join(hashlib.sha256(b"%d" % n).digest() for n in range(2048))
        assert len(value) == 64 * 1024
        execute(self.save(key, value))
        assert execute(Load(key=key, now=NOW)) == Loaded(value=value, revision=1)

    def test_keys_are_isolated(self, execute: Execute, new_key: Callable[[], str]) -> None:
        """Operations on one key never affect another, even a longer one."""
        first = new_key()
        # A key that extends another must not be confused with it.
        second = first + "0"
        execute(self.save(first, b"a"))
        execute(self.save(second, b"b"))
        execute(self.save(second, b"b2", 1))
        assert execute(Load(key=first, now=NOW)) == Loaded(value=b"a", revision=1)
        assert execute(self.save(first, b"a2", 2)) == Conflict()
        execute(Delete(key=first))
        assert execute(Load(key=first, now=NOW)) == Missing()
        assert execute(Load(key=second, now=NOW)) == Loaded(value=b"b2", revision=2)

    # -- concurrency -------------------------------------------------------------

    def test_concurrent_increments_are_all_kept(
        self,
        execute: Execute,
        run_concurrently: RunConcurrently,
        new_key: Callable[[], str],
    ) -> None:
        """Clients doing read-modify-write with retries lose no increment."""
        key = new_key()
        execute(self.save(key, b"0"))
        clients = self.concurrency
        run_concurrently([_increment(key, NOW) for _ in range(clients)])
        assert execute(Load(key=key, now=NOW)) == Loaded(
            value=str(clients).encode(), revision=clients + 1
        )

    def test_writers_with_the_same_revision_exactly_one_wins(
        self,
        execute: Execute,
        run_concurrently: RunConcurrently,
        new_key: Callable[[], str],
    ) -> None:
        """Of several saves naming the same revision, exactly one succeeds."""
        key = new_key()
        execute(self.save(key, b"v1"))
        results: list[Result] = []
        values = [b"writer %d" % n for n in range(self.concurrency)]
        run_concurrently([_save_once(self.save(key, value, 1), results) for value in values])
        assert results.count(Saved(revision=2)) == 1
        assert results.count(Conflict()) == len(values) - 1
        loaded = execute(Load(key=key, now=NOW))
        assert isinstance(loaded, Loaded)
        assert loaded.revision == 2
        assert loaded.value in values

    def test_concurrent_creates_exactly_one_wins(
        self,
        execute: Execute,
        run_concurrently: RunConcurrently,
        new_key: Callable[[], str],
    ) -> None:
        """Of several creates of one key at once, exactly one succeeds."""
        key = new_key()
        results: list[Result] = []
        values = [b"creator %d" % n for n in range(self.concurrency)]
        run_concurrently([_save_once(self.save(key, value), results) for value in values])
        assert results.count(Saved(revision=1)) == 1
        assert results.count(Conflict()) == len(values) - 1
        loaded = execute(Load(key=key, now=NOW))
        assert isinstance(loaded, Loaded)
        assert loaded.revision == 1
        assert loaded.value in values

    # -- the owner index -----------------------------------------------------------

    def test_owner_index_is_as_declared(self, store: Any) -> None:
        """The store's ``owner_index`` attribute matches the suite's `owner_index`."""
        assert bool(getattr(store, "owner_index", False)) is self.owner_index, (
            "set owner_index on the conformance class to what the store declares"
        )

    @staticmethod
    def owned(execute: Execute, owner: str, now: float = NOW) -> set[tuple[str, bytes]]:
        """The ``(key, value)`` pairs a `ListOwned` answers, as a set."""
        result = execute(ListOwned(owner=owner, now=now))
        assert isinstance(result, Owned), result
        assert all(type(value) is bytes for _, value in result.records)
        return set(result.records)

    @staticmethod
    def end(execute: Execute, owner: str, **fields: Any) -> int:
        """Run an `EndOwned` and return its count."""
        result = execute(EndOwned(owner=owner, now=fields.pop("now", NOW), **fields))
        assert isinstance(result, Ended), result
        return result.count

    def test_list_owned_finds_exactly_the_owners_records(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """`ListOwned` answers every live record saved with the owner, and no other."""
        owner, other = new_key(), new_key()
        mine = {(new_key(), b"m%d" % n) for n in range(3)}
        for key, value in mine:
            execute(self.save(key, value, owner=owner))
        execute(self.save(new_key(), b"theirs", owner=other))
        execute(self.save(new_key(), b"nobody's"))
        assert self.owned(execute, owner) == mine
        assert self.owned(execute, new_key()) == set()

    def test_an_update_keeps_the_record_listed_with_its_new_value(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """An update (which carries the same owner) leaves the record listed."""
        owner, key = new_key(), new_key()
        execute(self.save(key, b"v1", owner=owner))
        assert execute(self.save(key, b"v2", 1, owner=owner)) == Saved(revision=2)
        assert self.owned(execute, owner) == {(key, b"v2")}

    def test_list_owned_leaves_out_deleted_and_expired_records(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """A deleted record (with or without the owner on the `Delete`) and an
        expired one are not listed.
        """
        owner = new_key()
        kept, with_owner, without_owner, expiring = (new_key() for _ in range(4))
        ttl, expires_at = self.short_lived()
        execute(self.save(kept, b"kept", owner=owner, ttl=TTL * 2))
        execute(self.save(with_owner, b"a", owner=owner))
        execute(self.save(without_owner, b"b", owner=owner))
        execute(self.save(expiring, b"c", owner=owner, ttl=ttl, expires_at=expires_at))
        execute(Delete(key=with_owner, owner=owner))
        execute(Delete(key=without_owner))
        now = self.wait_for_expiry(expires_at)
        assert self.owned(execute, owner, now) == {(kept, b"kept")}

    def test_end_owned_deletes_every_live_record_of_the_owner(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """`EndOwned` deletes the owner's records, answers how many, and leaves
        other owners' records alone.
        """
        owner, other = new_key(), new_key()
        keys = [new_key() for _ in range(3)]
        for key in keys:
            execute(self.save(key, b"v", owner=owner))
        theirs = new_key()
        execute(self.save(theirs, b"t", owner=other))
        assert self.end(execute, owner) == 3
        for key in keys:
            assert execute(Load(key=key, now=NOW)) == Missing()
        assert self.owned(execute, owner) == set()
        assert self.end(execute, owner) == 0
        assert execute(Load(key=theirs, now=NOW)) == Loaded(value=b"t", revision=1)

    def test_end_owned_keeps_the_key_it_is_told_to(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """``keep`` names the current session: it survives "end the others"."""
        owner, current, other = new_key(), new_key(), new_key()
        execute(self.save(current, b"here", owner=owner))
        execute(self.save(other, b"there", owner=owner))
        assert self.end(execute, owner, keep=current) == 1
        assert self.owned(execute, owner) == {(current, b"here")}

    def test_end_owned_only_ends_one_key_of_that_owner(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """``only`` ends one key, and only if the owner owns it."""
        owner, intruder = new_key(), new_key()
        first, second = new_key(), new_key()
        execute(self.save(first, b"1", owner=owner))
        execute(self.save(second, b"2", owner=owner))
        assert self.end(execute, intruder, only=first) == 0
        assert execute(Load(key=first, now=NOW)) == Loaded(value=b"1", revision=1)
        assert self.end(execute, owner, only=first) == 1
        assert self.owned(execute, owner) == {(second, b"2")}

    def test_an_update_after_end_owned_conflicts(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """A save racing "end all" cannot bring an ended session back."""
        owner, key = new_key(), new_key()
        execute(self.save(key, b"v1", owner=owner))
        assert self.end(execute, owner) == 1
        assert execute(self.save(key, b"revived", 1, owner=owner)) == Conflict()
        assert execute(Load(key=key, now=NOW)) == Missing()

    def test_a_create_past_max_owned_ends_the_least_recently_used(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """A create with ``max_owned`` first ends the owner's live records with
        the earliest expiry, so that the owner keeps ``max_owned`` of them.
        """
        owner = new_key()
        oldest, older, newer, newest = (new_key() for _ in range(4))
        execute(self.save(older, b"older", owner=owner, ttl=TTL + 20))
        execute(self.save(oldest, b"oldest", owner=owner, ttl=TTL + 10))
        execute(self.save(newer, b"newer", owner=owner, ttl=TTL + 30))
        created = execute(self.save(newest, b"newest", owner=owner, ttl=TTL + 40, max_owned=2))
        assert created == Saved(revision=1)
        assert self.owned(execute, owner) == {(newer, b"newer"), (newest, b"newest")}
        assert execute(Load(key=oldest, now=NOW)) == Missing()
        assert execute(Load(key=older, now=NOW)) == Missing()

    def test_max_owned_under_the_limit_ends_nothing(
        self, execute: Execute, new_key: Callable[[], str]
    ) -> None:
        """Below ``max_owned`` a create ends nothing, and other owners never count."""
        owner, other = new_key(), new_key()
        execute(self.save(new_key(), b"theirs", owner=other))
        first = new_key()
        execute(self.save(first, b"1", owner=owner))
        second = new_key()
        execute(self.save(second, b"2", owner=owner, max_owned=2))
        assert self.owned(execute, owner) == {(first, b"1"), (second, b"2")}


_OWNER_TESTS: Final = (
    "test_list_owned_finds_exactly_the_owners_records",
    "test_an_update_keeps_the_record_listed_with_its_new_value",
    "test_list_owned_leaves_out_deleted_and_expired_records",
    "test_end_owned_deletes_every_live_record_of_the_owner",
    "test_end_owned_keeps_the_key_it_is_told_to",
    "test_end_owned_only_ends_one_key_of_that_owner",
    "test_an_update_after_end_owned_conflicts",
    "test_a_create_past_max_owned_ends_the_least_recently_used",
    "test_max_owned_under_the_limit_ends_nothing",
)


class AsyncStoreConformance(StoreConformance):
    """Conformance tests for an asynchronous store driver.

    The same tests as `StoreConformance`; each runs on an event loop this
    class creates for it (an `asyncio.Runner`), exposed as the ``run``
    fixture so the ``store`` fixture can open and close the store on that
    loop::

        import pytest
        from satchel.testing import AsyncStoreConformance

        class TestMyAsyncStore(AsyncStoreConformance):
            @pytest.fixture
            def store(self, run):
                store = run(MyAsyncStore.connect("redis://127.0.0.1"))
                yield store
                run(store.close())

    Concurrency tests run the clients as tasks on that loop, and every task
    yields between ops so their loads and saves interleave.
    """

    @pytest.fixture
    def runner(self) -> Iterator[asyncio.Runner]:
        """The test's own event loop."""
        with asyncio.Runner() as runner:
            yield runner

    @pytest.fixture
    def run(self, runner: asyncio.Runner) -> RunCoroutine:
        """Run a coroutine on the test's event loop and return its result."""
        return runner.run

    @pytest.fixture
    def execute(self, store: Any, run: RunCoroutine) -> Execute:
        """Carry out one op on the store (on the test's loop)."""
        return lambda op: run(store.execute(op))

    @pytest.fixture
    def sweep(self, store: Any, run: RunCoroutine) -> Sweep | None:
        """The store's async ``sweep(now)``, or ``None`` if it has none."""
        if not callable(getattr(store, "sweep", None)):
            return None
        return lambda now: run(store.sweep(now))

    @pytest.fixture
    def run_concurrently(self, store: Any, run: RunCoroutine) -> RunConcurrently:
        """Run client programs at once, one task each, until all finish."""

        async def client(program: Program) -> None:
            op = next(program)
            while True:
                result = await store.execute(op)
                # Yield to the other clients between ops, so they interleave
                # even when the store itself never has to wait.
                await asyncio.sleep(0)
                try:
                    op = program.send(result)
                except StopIteration:
                    return

        async def everyone(programs: list[Program]) -> None:
            async with asyncio.timeout(_THREAD_TIMEOUT):
                await asyncio.gather(*(client(program) for program in programs))

        return lambda programs: run(everyone(programs))
