from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from satchel._errors import ConfigurationError, StoreError
from satchel._ops import (
    Conflict,
    Delete,
    Deleted,
    ListOwned,
    Load,
    Loaded,
    Missing,
    Owned,
    Save,
    Saved,
)
from satchel._sqlite import AsyncSQLiteStore, SQLiteStore
from satchel.testing._conformance import (
    AsyncStoreConformance,
    RunCoroutine,
    StoreConformance,
)

NOW = 1_700_000_000.0


# --8<-- [start:conformance]
class TestSQLiteStore(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SQLiteStore]:
        with SQLiteStore(tmp_path / "sessions.db") as store:
            yield store


class TestAsyncSQLiteStore(AsyncStoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path, run: RunCoroutine) -> Iterator[AsyncSQLiteStore]:
        store = AsyncSQLiteStore(tmp_path / "sessions.db", table="other_name")
        yield store
        run(store.close())
        # --8<-- [end:conformance]


def save(
    key: str,
    value: bytes = b"v",
    expected_revision: int | None = None,
    *,
    expires_at: float = NOW + 100,
    now: float = NOW,
) -> Save:
    return Save(
        key=key,
        value=value,
        ttl=expires_at - now,
        expires_at=expires_at,
        expected_revision=expected_revision,
        now=now,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "sessions.db"


# -- persistence and set-up -------------------------------------------------------


def test_records_survive_a_restart(db: Path) -> None:
    with SQLiteStore(db) as first:
        first.execute(save("k", b"kept"))
        first.execute(save("k", b"kept2", 1))
    with SQLiteStore(str(db)) as second:
        assert second.execute(Load(key="k", now=NOW)) == Loaded(value=b"kept2", revision=2)
        assert second.execute(save("k", b"kept3", 2)) == Saved(revision=3)


def test_two_stores_share_one_file(db: Path) -> None:
    with SQLiteStore(db) as first, SQLiteStore(db) as second:
        first.execute(save("k", b"one"))
        assert second.execute(Load(key="k", now=NOW)) == Loaded(value=b"one", revision=1)
        assert second.execute(save("k", b"two", 1)) == Saved(revision=2)
        # The first store's stale revision loses, whichever store wrote last.
        assert first.execute(save("k", b"stale", 1)) == Conflict()
        assert first.execute(Load(key="k", now=NOW)) == Loaded(value=b"two", revision=2)


def test_database_is_in_wal_mode(db: Path) -> None:
    with SQLiteStore(db):
        conn = sqlite3.connect(db)
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        finally:
            conn.close()


def test_schema(db: Path) -> None:
    with SQLiteStore(db, table="web_sessions"):
        conn = sqlite3.connect(db)
        try:
            columns = conn.execute("PRAGMA table_info(web_sessions)").fetchall()
            indexes = conn.execute("PRAGMA index_list(web_sessions)").fetchall()
            indexed = {
                row[1]: [c[2] for c in conn.execute(f'PRAGMA index_info("{row[1]}")')]
                for row in indexes
            }
        finally:
            conn.close()
    # (name, type, not null, primary key)
    assert [(c[1], c[2], c[3], c[5]) for c in columns] == [
        ("key", "TEXT", 0, 1),
        ("revision", "INTEGER", 1, 0),
        ("expires_at", "REAL", 1, 0),
        ("value", "BLOB", 1, 0),
        ("owner", "TEXT", 0, 0),
    ]
    assert indexed["web_sessions_expires_at"] == ["expires_at"]
    assert indexed["web_sessions_owner"] == ["owner"]


def test_a_table_made_before_owners_gains_the_column(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute(
            "CREATE TABLE satchel_sessions (key TEXT PRIMARY KEY, revision INTEGER NOT NULL, "
            "expires_at REAL NOT NULL, value BLOB NOT NULL)"
        )
        conn.execute("INSERT INTO satchel_sessions VALUES ('old', 1, ?, x'00')", (NOW + 3600,))
        conn.commit()
    finally:
        conn.close()
    with SQLiteStore(db) as store:
        assert store.execute(Load(key="old", now=NOW)) == Loaded(value=b"\x00", revision=1)
        store.execute(
            Save(
                key="new",
                value=b"v",
                ttl=60,
                expires_at=NOW + 60,
                expected_revision=None,
                now=NOW,
                owner="ada",
            )
        )
        assert store.execute(ListOwned(owner="ada", now=NOW)) == Owned(records=(("new", b"v"),))


def test_tables_are_separate(db: Path) -> None:
    with SQLiteStore(db, table="a") as a, SQLiteStore(db, table="b") as b:
        a.execute(save("k", b"in a"))
        assert b.execute(Load(key="k", now=NOW)) == Missing()
        assert b.execute(save("k", b"in b")) == Saved(revision=1)
        assert a.execute(Load(key="k", now=NOW)) == Loaded(value=b"in a", revision=1)


@pytest.mark.parametrize(
    "table",
    ["", "1abc", "a-b", 'a"b', "x; DROP TABLE y", "sqlite_master", "é", "a" * 64, 7],
)
def test_table_name_is_validated(db: Path, table: object) -> None:
    with pytest.raises(ConfigurationError, match="table"):
        SQLiteStore(db, table=table)  # type: ignore[arg-type]
    assert not db.exists()


@pytest.mark.parametrize("timeout", [-1, float("nan"), float("inf"), True, "5"])
def test_timeout_is_validated(db: Path, timeout: object) -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        SQLiteStore(db, timeout=timeout)  # type: ignore[arg-type]


def test_path_is_validated() -> None:
    with pytest.raises(ConfigurationError, match="path"):
        SQLiteStore(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="path"):
        SQLiteStore(b"sessions.db")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="path"):
        SQLiteStore("sessions\x00.db")


# -- sweep --------------------------------------------------------------------------


def test_sweep_deletes_in_batches(db: Path) -> None:
    with SQLiteStore(db) as store:
        for n in range(25):
            store.execute(save(f"old{n}", expires_at=NOW + 10))
        for n in range(5):
            store.execute(save(f"live{n}", expires_at=NOW + 1000))
        statements: list[str] = []
        store._engine._conn.set_trace_callback(statements.append)
        assert store.sweep(NOW + 500, batch_size=10) == 25
        store._engine._conn.set_trace_callback(None)
        deletes = [s for s in statements if s.startswith("DELETE")]
        assert len(deletes) == 3  # 10 + 10 + 5
        assert all("LIMIT" in s for s in deletes)
        for n in range(5):
            assert store.execute(Load(key=f"live{n}", now=NOW + 500)) == Loaded(
                value=b"v", revision=1
            )


def test_sweep_batch_size_is_validated(db: Path) -> None:
    with (
        SQLiteStore(db) as store,
        pytest.raises(ConfigurationError, match="batch_size"),
    ):
        store.sweep(NOW, batch_size=0)


def test_async_sweep_in_batches(db: Path) -> None:
    async def scenario() -> tuple[int, int]:
        async with AsyncSQLiteStore(db) as store:
            for n in range(7):
                await store.execute(save(f"old{n}", expires_at=NOW + 10))
            await store.execute(save("live", expires_at=NOW + 1000))
            swept = await store.sweep(NOW + 500, batch_size=3)
            again = await store.sweep(NOW + 500, batch_size=3)
            return swept, again

    assert asyncio.run(scenario()) == (7, 0)


# -- failures -----------------------------------------------------------------------


def test_corrupt_file_raises_store_error(db: Path) -> None:
    db.write_bytes(b"this is not a database, just some bytes" * 100)
    with pytest.raises(StoreError, match="sqlite store failed"):
        SQLiteStore(db)


def test_directory_as_path_raises_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        SQLiteStore(tmp_path)


def test_failure_during_an_operation_raises_store_error(db: Path) -> None:
    secret = b"\x00secret-session-bytes\xff" * 10
    key = "k" * 40
    with SQLiteStore(db) as store:
        conn = sqlite3.connect(db)
        conn.execute("DROP TABLE satchel_sessions")
        conn.commit()
        conn.close()
        with pytest.raises(StoreError) as caught:
            store.execute(save(key, secret))
        with pytest.raises(StoreError):
            store.execute(Load(key=key, now=NOW))
        with pytest.raises(StoreError):
            store.sweep(NOW)
    message = str(caught.value)
    assert "no such table" in message
    assert key not in message
    assert "secret" not in message


def test_locked_database_raises_store_error_after_timeout(db: Path) -> None:
    with SQLiteStore(db, timeout=0.05) as store:
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError, match="locked"):
                store.execute(save("k"))
            # Readers are not blocked by a writer in WAL mode.
            assert store.execute(Load(key="k", now=NOW)) == Missing()
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert store.execute(save("k")) == Saved(revision=1)


def test_closed_store_raises_store_error(db: Path) -> None:
    store = SQLiteStore(db)
    store.close()
    with pytest.raises(StoreError):
        store.execute(Delete(key="k"))


def test_closed_async_store_raises_store_error(db: Path) -> None:
    async def scenario() -> None:
        store = AsyncSQLiteStore(db)
        await store.close()
        await store.close()  # closing twice is harmless
        with pytest.raises(StoreError, match="closed"):
            await store.execute(Delete(key="k"))

    asyncio.run(scenario())


# -- the async flavour never blocks the loop ----------------------------------------


def test_async_store_waits_off_the_loop(db: Path) -> None:
    # Another connection holds the write lock, so the store's save must
    # wait. Had it run on the loop, the loop could not tick meanwhile and the
    # save would fail after the busy timeout; run on the worker, the loop
    # keeps ticking and the save completes once the lock is released.
    async def scenario() -> None:
        async with AsyncSQLiteStore(db, timeout=10) as store:
            blocker = sqlite3.connect(db, isolation_level=None)
            try:
                blocker.execute("BEGIN IMMEDIATE")
                pending = asyncio.create_task(store.execute(save("k")))
                ticks = 0
                for _ in range(20):
                    await asyncio.sleep(0.005)
                    ticks += 1
                    assert not pending.done()
                assert ticks == 20
                blocker.execute("COMMIT")
            finally:
                blocker.close()
            assert await pending == Saved(revision=1)
            assert await store.execute(Delete(key="k")) == Deleted()

    asyncio.run(scenario())


def test_async_store_runs_calls_on_its_worker_thread(db: Path) -> None:
    async def scenario() -> set[str]:
        names: set[str] = set()
        async with AsyncSQLiteStore(db) as store:
            store._engine._conn.set_trace_callback(
                lambda _: names.add(threading.current_thread().name)
            )
            await store.execute(save("k"))
            await store.execute(Load(key="k", now=NOW))
        return names

    names = asyncio.run(scenario())
    assert names
    assert all(name.startswith("satchel-sqlite") for name in names)


# -- the documentation ------------------------------------------------------------


def schema_of(path: Path, table: str) -> tuple[list[Any], list[Any]]:
    conn = sqlite3.connect(path)
    try:
        columns = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
        indexes = [
            (row[1], conn.execute(f'PRAGMA index_info("{row[1]}")').fetchall())
            for row in conn.execute(f'PRAGMA index_list("{table}")')
        ]
    finally:
        conn.close()
    return columns, sorted(indexes)


def test_documented_schema_is_the_real_one(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "stores.md"
    text = docs.read_text(encoding="utf-8")
    ddl = text.split("```sql\n", 1)[1].split("```", 1)[0]
    documented = tmp_path / "documented.db"
    conn = sqlite3.connect(documented)
    try:
        conn.executescript(ddl)
    finally:
        conn.close()
    real = tmp_path / "real.db"
    with SQLiteStore(real):
        pass
    assert schema_of(documented, "satchel_sessions") == schema_of(real, "satchel_sessions")
