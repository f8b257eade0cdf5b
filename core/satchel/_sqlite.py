"""A store in one SQLite file (stdlib `sqlite3`), sync and async flavours.

Each operation is one SQL statement in autocommit mode, so the compare-and-set
is atomic even across processes sharing the file. The database runs in WAL
mode: readers never wait for the writer.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import ClassVar, Final, TypeVar, final

from ._checks import check_count, check_seconds
from ._errors import ConfigurationError, StoreError
from ._ops import (
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

__all__ = ["AsyncSQLiteStore", "SQLiteStore"]

DEFAULT_TABLE: Final = "satchel_sessions"
DEFAULT_SWEEP_BATCH: Final = 1000

# Table names are spliced into SQL (parameters cannot name tables), so only
# plain identifiers are accepted; `sqlite_` is reserved by SQLite itself.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

_T = TypeVar("_T")

# Templates for every statement; `{t}` is the (validated) table name.
_SQL: Final = {
    "create_table": (
        'CREATE TABLE IF NOT EXISTS "{t}" ('
        "key TEXT PRIMARY KEY, "
        "revision INTEGER NOT NULL, "
        "expires_at REAL NOT NULL, "
        "value BLOB NOT NULL, "
        "owner TEXT)"
    ),
    "create_index": ('CREATE INDEX IF NOT EXISTS "{t}_expires_at" ON "{t}" (expires_at)'),
    # Tables made before owners existed gain the column (see docs/owners.md).
    "columns": 'PRAGMA table_info("{t}")',
    "add_owner": 'ALTER TABLE "{t}" ADD COLUMN owner TEXT',
    "create_owner_index": (
        'CREATE INDEX IF NOT EXISTS "{t}_owner" ON "{t}" (owner) WHERE owner IS NOT NULL'
    ),
    "load": 'SELECT value, revision FROM "{t}" WHERE key = ? AND expires_at > ?',
    # A create may replace only an expired row: the DO UPDATE's WHERE leaves
    # a live row alone, and the rowcount of 0 then means Conflict.
    "create": (
        'INSERT INTO "{t}" (key, revision, expires_at, value, owner) VALUES (?, ?, ?, ?, ?) '
        "ON CONFLICT (key) DO UPDATE SET revision = excluded.revision, "
        "expires_at = excluded.expires_at, value = excluded.value, owner = excluded.owner "
        'WHERE "{t}".expires_at <= ?'
    ),
    # The owner's live sessions beyond the newest `limit - 1` (by expiry),
    # ended to make room for one more.
    "cap_owner": (
        'DELETE FROM "{t}" WHERE key IN (SELECT key FROM "{t}" '
        "WHERE owner = ? AND expires_at > ? ORDER BY expires_at DESC, key LIMIT -1 OFFSET ?)"
    ),
    "list_owned": 'SELECT key, value FROM "{t}" WHERE owner = ? AND expires_at > ?',
    "end_owned": (
        'DELETE FROM "{t}" WHERE owner = ? AND expires_at > ? AND key IS NOT ? '
        "AND (? IS NULL OR key = ?)"
    ),
    "update": (
        'UPDATE "{t}" SET revision = ?, expires_at = ?, value = ? '
        "WHERE key = ? AND revision = ? AND expires_at > ?"
    ),
    "delete": 'DELETE FROM "{t}" WHERE key = ?',
    # Bounded by LIMIT so one sweep statement never becomes a huge transaction.
    "sweep": (
        'DELETE FROM "{t}" WHERE rowid IN (SELECT rowid FROM "{t}" WHERE expires_at <= ? LIMIT ?)'
    ),
}


def _check_table(table: object) -> str:
    if (
        not isinstance(table, str)
        or _IDENTIFIER.fullmatch(table) is None
        or table.lower().startswith("sqlite_")
    ):
        raise ConfigurationError(
            "table: must be a plain SQL identifier (letters, digits, underscores; "
            f"not starting with a digit or 'sqlite_'; at most 63 characters), "
            f"got {table!r}"
        )
    return table


def _check_timeout(timeout: object) -> float:
    return check_seconds("timeout", timeout, zero_allowed=True)


def _failure(exc: sqlite3.Error) -> StoreError:
    # SQLite's messages name tables and columns, never bound values, so
    # passing them on cannot leak a key or a session.
    return StoreError(f"sqlite store failed: {type(exc).__name__}: {exc}")


@final
class _SQLiteEngine:
    """The shared implementation: one connection, guarded by one lock."""

    __slots__ = ("_conn", "_lock", "_sql", "path", "table")

    def __init__(self, path: str | os.PathLike[str], table: str, timeout: float) -> None:
        self.table = _check_table(table)
        timeout = _check_timeout(timeout)
        try:
            self.path = os.fspath(path)
        except TypeError:
            raise ConfigurationError(
                f"path: must be a str or os.PathLike, got {type(path).__name__}"
            ) from None
        if not isinstance(self.path, str):
            raise ConfigurationError("path: must be a str path, not bytes")
        if "\x00" in self.path:
            raise ConfigurationError("path: must not contain a NUL character")
        self._lock = threading.Lock()
        # Safe to splice: `_check_table` admits plain identifiers only.
        self._sql = {name: sql.format(t=self.table) for name, sql in _SQL.items()}
        try:
            # Autocommit (isolation_level=None): each statement is its own
            # transaction, so no lock is held between operations.
            self._conn = sqlite3.connect(
                self.path,
                timeout=timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise _failure(exc) from exc
        try:
            # WAL lets loads proceed while another connection writes. The
            # synchronous setting stays at SQLite's default (FULL): a logout's
            # delete must not be undone by a power cut.
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute(self._sql["create_table"])
            self._conn.execute(self._sql["create_index"])
            columns = {row[1] for row in self._conn.execute(self._sql["columns"])}
            if "owner" not in columns:
                self._conn.execute(self._sql["add_owner"])
            self._conn.execute(self._sql["create_owner_index"])
        except sqlite3.Error as exc:
            self._conn.close()
            raise _failure(exc) from exc

    def execute(self, op: Op) -> Result:
        sql = self._sql
        try:
            with self._lock:
                match op:
                    case Load():
                        row = self._conn.execute(sql["load"], (op.key, op.now)).fetchone()
                        if row is None:
                            return Missing()
                        return Loaded(value=bytes(row[0]), revision=int(row[1]))
                    case Save():
                        revision = op.new_revision
                        if op.expected_revision is None:
                            cursor = self._create(op)
                        else:
                            cursor = self._conn.execute(
                                sql["update"],
                                (
                                    revision,
                                    op.expires_at,
                                    op.value,
                                    op.key,
                                    op.expected_revision,
                                    op.now,
                                ),
                            )
                        if cursor.rowcount == 1:
                            return Saved(revision=revision)
                        return Conflict()
                    case Delete():
                        self._conn.execute(sql["delete"], (op.key,))
                        return Deleted()
                    case ListOwned():
                        rows = self._conn.execute(sql["list_owned"], (op.owner, op.now))
                        return Owned(records=tuple((str(k), bytes(v)) for k, v in rows))
                    case EndOwned():
                        cursor = self._conn.execute(
                            sql["end_owned"], (op.owner, op.now, op.keep, op.only, op.only)
                        )
                        return Ended(count=cursor.rowcount)
                    case _:
                        raise TypeError(f"not a store operation: {type(op).__name__}")
        except sqlite3.Error as exc:
            raise _failure(exc) from exc

    def _create(self, op: Save) -> sqlite3.Cursor:
        sql = self._sql
        params = (op.key, op.new_revision, op.expires_at, op.value, op.owner, op.now)
        if op.owner is None or op.max_owned is None:
            return self._conn.execute(sql["create"], params)
        # Making room and creating in one transaction, so two processes
        # logging the same owner in at once cannot both skip the cap.
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.execute(sql["cap_owner"], (op.owner, op.now, op.max_owned - 1))
            cursor = self._conn.execute(sql["create"], params)
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        return cursor

    def sweep_batch(self, now: float, batch_size: int) -> int:
        try:
            with self._lock:
                return self._conn.execute(self._sql["sweep"], (now, batch_size)).rowcount
        except sqlite3.Error as exc:
            raise _failure(exc) from exc

    def sweep(self, now: float, batch_size: int) -> int:
        total = 0
        while True:
            # The lock is released between batches so requests are not held
            # up behind a large sweep.
            removed = self.sweep_batch(now, batch_size)
            total += removed
            if removed < batch_size:
                return total

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            except sqlite3.Error as exc:
                raise _failure(exc) from exc


@final
class SQLiteStore:
    """A store in an SQLite database file (synchronous flavour).

    Records survive a restart and may be shared by several processes on one
    machine. Constructing the store opens the file (creating it if needed),
    switches it to WAL mode and creates the table and its expiry index with
    ``CREATE TABLE IF NOT EXISTS`` / ``CREATE INDEX IF NOT EXISTS``. The
    store is thread-safe: one connection, used under a lock.

    Args:
        path: the database file.
        table: the table to keep sessions in; a plain identifier.
        timeout: seconds to wait for another process's write lock before
            failing with `StoreError`.

    Raises:
        ConfigurationError: `table`, `timeout` or `path` is invalid.
        StoreError: the database cannot be opened or set up.

    """

    __slots__ = ("_engine",)

    owner_index: ClassVar[bool] = True
    """It keeps an owner index: sessions can be listed and ended by owner."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str = DEFAULT_TABLE,
        timeout: float = 5.0,
    ) -> None:
        self._engine = _SQLiteEngine(path, table, timeout)

    @property
    def path(self) -> str:
        """The database file's path."""
        return self._engine.path

    @property
    def table(self) -> str:
        """The table the sessions are kept in."""
        return self._engine.table

    def execute(self, op: Op) -> Result:
        """Carry out `op` (see `satchel.Store`).

        Raises:
            StoreError: SQLite failed (locked past `timeout`, disk full,
                database closed or damaged).

        """
        return self._engine.execute(op)

    def sweep(self, now: float, *, batch_size: int = DEFAULT_SWEEP_BATCH) -> int:
        """Delete the records whose expiry is at or before `now`; return how many.

        Deletes at most `batch_size` rows per statement, so no single write
        transaction grows large or holds the database for long.

        Raises:
            ConfigurationError: `batch_size` is not a positive integer.
            StoreError: SQLite failed.

        """
        return self._engine.sweep(now, check_count("batch_size", batch_size))

    def close(self) -> None:
        """Close the connection; later operations raise `StoreError`."""
        self._engine.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, table={self.table!r})"


@final
class AsyncSQLiteStore:
    """The asynchronous flavour of `SQLiteStore`, with the same behaviour.

    Every call runs the synchronous implementation on a worker thread owned
    by this store, so the event loop never waits on the disk or on another
    process's lock. One worker means calls run in order, one at a time,
    without taking threads from the loop's default executor. The constructor
    opens the database on the calling thread; build the store at start-up.

    Args:
        path: the database file.
        table: the table to keep sessions in; a plain identifier.
        timeout: seconds to wait for another process's write lock.

    Raises:
        ConfigurationError: `table`, `timeout` or `path` is invalid.
        StoreError: the database cannot be opened or set up.

    """

    __slots__ = ("_engine", "_worker")

    owner_index: ClassVar[bool] = True
    """It keeps an owner index: sessions can be listed and ended by owner."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str = DEFAULT_TABLE,
        timeout: float = 5.0,
    ) -> None:
        self._engine = _SQLiteEngine(path, table, timeout)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="satchel-sqlite")

    @property
    def path(self) -> str:
        """The database file's path."""
        return self._engine.path

    @property
    def table(self) -> str:
        """The table the sessions are kept in."""
        return self._engine.table

    async def _call(self, fn: Callable[..., _T], *args: object) -> _T:
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._worker, fn, *args)
        except RuntimeError:
            # The worker refuses new work once the store is closed.
            raise StoreError("sqlite store failed: the store is closed") from None
        return await future

    async def execute(self, op: Op) -> Result:
        """Carry out `op` (see `satchel.AsyncStore`) on the worker thread.

        Raises:
            StoreError: SQLite failed, or the store is closed.

        """
        return await self._call(self._engine.execute, op)

    async def sweep(self, now: float, *, batch_size: int = DEFAULT_SWEEP_BATCH) -> int:
        """Delete the records whose expiry is at or before `now`; return how many.

        Each batch is a separate call on the worker, so requests queued
        behind a large sweep wait for one batch, not for the whole sweep.

        Raises:
            ConfigurationError: `batch_size` is not a positive integer.
            StoreError: SQLite failed.

        """
        batch_size = check_count("batch_size", batch_size)
        total = 0
        while True:
            removed = await self._call(self._engine.sweep_batch, now, batch_size)
            total += removed
            if removed < batch_size:
                return total

    async def close(self) -> None:
        """Close the connection and stop the worker thread."""
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._worker, self._engine.close)
        except RuntimeError:
            return  # closed before: the worker is gone, and so is the connection
        try:
            await future
        finally:
            # The close has run (calls run in order), so nothing is left to wait for.
            self._worker.shutdown(wait=False)

    async def __aenter__(self) -> AsyncSQLiteStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncSQLiteStore({self.path!r}, table={self.table!r})"
