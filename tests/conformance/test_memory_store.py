from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
import tracemalloc
from collections.abc import Iterator

import pytest

from satchel._errors import ConfigurationError, StoreError
from satchel._memory import AsyncMemoryStore, MemoryStore
from satchel._ops import Conflict, Delete, Deleted, Load, Loaded, Missing, Save, Saved
from satchel.testing._conformance import AsyncStoreConformance, StoreConformance

NOW = 1_700_000_000.0


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStore()


class TestMemoryStoreWithLimit(StoreConformance):
    # A limit the suite never reaches must not change any behaviour.
    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStore(max_sessions=10_000)


class TestAsyncMemoryStore(AsyncStoreConformance):
    @pytest.fixture
    def store(self) -> AsyncMemoryStore:
        return AsyncMemoryStore()


def store_key(n: int) -> str:
    # Shaped like the core's store keys: a prefix and a base64url SHA-256.
    digest = hashlib.sha256(b"%d" % n).digest()
    return "s:" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def create(key: str, expires_at: float, value: bytes = b"v", now: float = NOW) -> Save:
    return Save(
        key=key,
        value=value,
        ttl=expires_at - now,
        expires_at=expires_at,
        expected_revision=None,
        now=now,
    )


# -- sweep -----------------------------------------------------------------------


def test_sweep_with_nothing_expired_examines_no_record() -> None:
    store = MemoryStore()
    for n in range(10_000):
        store.execute(create(store_key(n), NOW + 100 + n))
    assert store.sweep(NOW + 50) == 0
    assert store._engine.examined == 0
    assert len(store) == 10_000


def test_sweep_examines_only_what_it_removes() -> None:
    store = MemoryStore()
    for n in range(10_000):
        store.execute(create(store_key(n), NOW + 1000 + n))
    for n in range(5):
        store.execute(create(f"old-{n}", NOW + 10 + n))
    assert store.sweep(NOW + 500) == 5
    assert store._engine.examined == 5
    assert len(store) == 10_000
    assert store.execute(Load(key=store_key(0), now=NOW)) == Loaded(value=b"v", revision=1)


def test_sweep_checks_each_record_of_the_bucket_straddling_now() -> None:
    store = MemoryStore()
    store.execute(create("a", NOW + 10.2))
    store.execute(create("b", NOW + 10.5))
    store.execute(create("c", NOW + 10.8))
    assert store.sweep(NOW + 10.5) == 2
    assert store.execute(Load(key="c", now=NOW + 10.5)) == Loaded(value=b"v", revision=1)
    assert store.sweep(NOW + 10.8) == 1
    assert len(store) == 0


def test_sweep_follows_a_record_whose_expiry_moved() -> None:
    store = MemoryStore()
    store.execute(create("k", NOW + 10))
    for revision in range(1, 4):
        store.execute(
            Save(
                key="k",
                value=b"v%d" % revision,
                ttl=100.0 * revision,
                expires_at=NOW + 100 * revision,
                expected_revision=revision,
                now=NOW,
            )
        )
    assert store.sweep(NOW + 299) == 0
    assert len(store) == 1
    assert store.sweep(NOW + 300) == 1
    assert len(store) == 0


def test_deleted_records_leave_nothing_to_sweep() -> None:
    store = MemoryStore()
    for n in range(100):
        store.execute(create(store_key(n), NOW + n % 7))
    for n in range(100):
        store.execute(Delete(key=store_key(n)))
    assert store._engine._buckets == {}
    assert store.sweep(NOW + 1000) == 0


def test_expiry_heap_stays_small_when_one_record_keeps_moving() -> None:
    # Every touch moves the record to a new bucket; stale heap entries must
    # not pile up for the life of the record.
    store = MemoryStore()
    store.execute(create("k", NOW + 1800))
    for revision in range(1, 10_001):
        now = NOW + revision
        store.execute(
            Save(
                key="k",
                value=b"v",
                ttl=1800.0,
                expires_at=now + 1800,
                expected_revision=revision,
                now=now,
            )
        )
    assert len(store._engine._buckets) == 1
    assert len(store._engine._heap) <= 100


def test_records_that_never_expire_are_never_swept() -> None:
    store = MemoryStore()
    store.execute(create("forever", float("inf")))
    assert store.sweep(NOW + 1e12) == 0
    assert store.execute(Load(key="forever", now=NOW + 1e12)) == Loaded(value=b"v", revision=1)


def test_async_sweep() -> None:
    async def scenario() -> tuple[int, int]:
        store = AsyncMemoryStore()
        await store.execute(create("old", NOW + 1))
        await store.execute(create("new", NOW + 100))
        return await store.sweep(NOW + 50), len(store)

    assert asyncio.run(scenario()) == (1, 1)


# -- max_sessions ----------------------------------------------------------------


def test_full_store_refuses_a_new_session() -> None:
    store = MemoryStore(max_sessions=3)
    for n in range(3):
        assert store.execute(create(f"k{n}", NOW + 100)) == Saved(revision=1)
    with pytest.raises(StoreError, match=r"memory store full \(max_sessions=3\)"):
        store.execute(create("k3", NOW + 100))
    # Nobody was evicted to make room, and nothing was stored.
    for n in range(3):
        assert store.execute(Load(key=f"k{n}", now=NOW)) == Loaded(value=b"v", revision=1)
    assert store.execute(Load(key="k3", now=NOW)) == Missing()
    assert len(store) == 3


def test_full_store_still_updates_and_deletes() -> None:
    store = MemoryStore(max_sessions=2)
    store.execute(create("a", NOW + 100))
    store.execute(create("b", NOW + 100))
    update = Save(
        key="a",
        value=b"v2",
        ttl=100.0,
        expires_at=NOW + 100,
        expected_revision=1,
        now=NOW,
    )
    assert store.execute(update) == Saved(revision=2)
    assert store.execute(Delete(key="b")) == Deleted()
    assert store.execute(create("c", NOW + 100)) == Saved(revision=1)


def test_full_store_drops_expired_records_to_make_room() -> None:
    store = MemoryStore(max_sessions=3)
    store.execute(create("old", NOW + 10))
    store.execute(create("live1", NOW + 100))
    store.execute(create("live2", NOW + 100))
    later = NOW + 50
    assert store.execute(create("new", NOW + 150, now=later)) == Saved(revision=1)
    assert len(store) == 3
    assert store.execute(Load(key="old", now=NOW)) == Missing()


def test_full_store_replaces_an_expired_record_under_the_same_key() -> None:
    store = MemoryStore(max_sessions=1)
    store.execute(create("k", NOW + 10))
    assert store.execute(create("k", NOW + 100, b"again", now=NOW + 20)) == Saved(revision=1)
    assert store.execute(create("k", NOW + 100, now=NOW + 20)) == Conflict()


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "3"])
def test_max_sessions_is_validated(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="max_sessions"):
        MemoryStore(max_sessions=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="max_sessions"):
        AsyncMemoryStore(max_sessions=bad)  # type: ignore[arg-type]


def test_full_store_under_concurrent_creates_holds_exactly_the_limit() -> None:
    store = MemoryStore(max_sessions=50)
    refused: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def client(first: int) -> None:
        start.wait(timeout=30)
        for n in range(first, 100, 8):
            try:
                store.execute(create(store_key(n), NOW + 100))
            except StoreError:
                with lock:
                    refused.append(n)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(store) == 50
    assert len(refused) == 50


# -- memory ----------------------------------------------------------------------


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("spread", [1, 10_000], ids=["one-bucket", "own-buckets"])
@pytest.mark.usefixtures("traced")
def test_memory_overhead_per_session(spread: int) -> None:
    # Bytes held per session beyond the value itself: the key string, the
    # record and the expiry index. Expiries spread over 1 second share one
    # bucket; over 10,000 seconds each session has a bucket of its own.
    sessions = 10_000
    values = [bytes([n % 256]) * 200 for n in range(sessions)]
    before = tracemalloc.get_traced_memory()[0]
    store = MemoryStore()
    for n in range(sessions):
        expires_at = NOW + 1800 + (n % spread) + n / sessions
        store.execute(create(store_key(n), expires_at, values[n]))
    per_session = (tracemalloc.get_traced_memory()[0] - before) / sessions
    assert len(store) == sessions
    assert per_session < 400, per_session
