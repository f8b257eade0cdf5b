"""Generated from ``_async.py`` by ``stores/unasync.py``: do not edit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, ClassVar, TypeAlias, final

import psycopg
from psycopg_pool import ConnectionPool

from satchel import (
    ConfigurationError,
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
    StoreError,
    check_count,
)

from ._flavours import Watch, sync_flavour
from ._shared import (
    DEFAULT_SCHEMA,
    DEFAULT_SWEEP_BATCH,
    DEFAULT_TABLE,
    DEFAULT_TIMEOUT,
    SCHEMA_LOCK,
    Statements,
    check_identifier,
    check_pool_sizes,
    check_timeout,
    connection_kwargs,
    failure,
    is_surely_idle,
    logger,
    round_trip_limit,
)

__all__ = ["PostgresStore"]

Connection: TypeAlias = psycopg.Connection[Any]


@final
class PostgresStore:
    """A store in one PostgreSQL table, for synchronous code (`satchel.Store`).

    Each operation borrows a connection from a psycopg pool, runs one
    statement in autocommit mode and gives the connection back. It keeps an
    owner index (an ``owner`` column with a partial index), so sessions can
    be listed and ended by owner. The table is
    created only by `create_schema` (or by ``from_dsn(..., create_schema=True)``),
    never as a side effect of importing or constructing.

    Args:
        pool: the pool to borrow connections from. The store uses it but does
            not own it: open it before use (``pool.open()``) and close it
            yourself; closing the store leaves it open. Its connections
            should be in autocommit mode (otherwise each op costs a BEGIN
            and a COMMIT too).
        schema: the schema (namespace) holding the table; a lowercase identifier.
        table: the table's name; a lowercase identifier of at most 52 characters.
        timeout: seconds to wait for a pooled connection, and (plus half a
            second) for the server to answer a statement before the
            connection is closed and the op fails.

    Raises:
        ConfigurationError: a setting is invalid; the message names it.

    """

    owner_index: ClassVar[bool] = True
    """It keeps an owner index: sessions can be listed and ended by owner."""

    __slots__ = (
        "_closed",
        "_create_schema",
        "_owns_pool",
        "_pool",
        "_ready",
        "_ready_lock",
        "_sql",
        "_timeout",
        "_watchdog",
    )

    def __init__(
        self,
        pool: ConnectionPool[Connection],
        *,
        schema: str = DEFAULT_SCHEMA,
        table: str = DEFAULT_TABLE,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not isinstance(pool, ConnectionPool):
            raise ConfigurationError(
                f"pool: must be a psycopg_pool.ConnectionPool, got {type(pool).__name__}"
            )
        self._sql = Statements(check_identifier("schema", schema), check_identifier("table", table))
        self._timeout = check_timeout(timeout)
        self._watchdog = sync_flavour.watchdog(round_trip_limit(self._timeout))
        self._pool = pool
        self._owns_pool = False
        self._create_schema = False
        self._closed = False
        # A pool the caller brought is theirs to open; nothing to do first.
        self._ready = True
        self._ready_lock = sync_flavour.lock()

    @classmethod
    def from_dsn(
        cls,
        dsn: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        table: str = DEFAULT_TABLE,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = DEFAULT_TIMEOUT,
        create_schema: bool = False,
    ) -> PostgresStore:
        """Build a store with its own pool, connecting to `dsn`.

        A plain (not async) call in either flavour. The synchronous store
        opens its pool here; it connects in the background, so the store can
        be built while the server is down (ops fail with `StoreError` until
        it is up). The asyncio store does no I/O here, so it works at
        start-up before any event loop runs: the pool is opened by the first
        `execute`, `sweep`, `create_schema` or `open` call, on the loop making
        it, which must be the loop that uses the store from then on (await
        `open` at start-up to fail fast instead). `create_schema=True` runs
        `create_schema` when the pool opens (and again on the next call if it
        failed).

        The pool's connections are in autocommit mode, carry a server-side
        ``statement_timeout`` of `timeout`, and a connect timeout of
        `timeout` (at least 2 s, libpq's minimum) unless `dsn` sets one. A
        connection is checked for a server that has hung up before each use,
        and replaced if it has. After losing the server, the pool keeps
        trying to reconnect for `timeout` seconds, then waits for the next op
        to try again, so the first op after the server is back succeeds.
        Closing the store closes this pool.

        Args:
            dsn: a libpq connection string or ``postgresql://`` URI.
            schema: see the class.
            table: see the class.
            min_size: connections kept open even when idle.
            max_size: connections at most.
            timeout: see the class.
            create_schema: run `create_schema` when the pool opens.

        Raises:
            ConfigurationError: a setting (or the DSN's syntax) is invalid.
            StoreError: (synchronous store) `create_schema` was asked for and
                failed.

        """
        schema = check_identifier("schema", schema)
        table = check_identifier("table", table)
        timeout = check_timeout(timeout)
        min_size, max_size = check_pool_sizes(min_size, max_size)
        kwargs = connection_kwargs(dsn, timeout)
        watchdog = sync_flavour.watchdog(round_trip_limit(timeout))

        def check(conn: Connection) -> None:
            # pool.connection() calls this before handing a connection out.
            if is_surely_idle(conn):
                return
            with watchdog.watch(conn):
                conn.execute("")

        pool: ConnectionPool[Connection] = ConnectionPool(
            dsn,
            kwargs=kwargs,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            reconnect_timeout=timeout,
            check=check,
            name=f"satchel-postgres:{schema}.{table}",
            open=False,
        )
        store = cls(pool, schema=schema, table=table, timeout=timeout)
        store._owns_pool = True
        store._watchdog = watchdog
        store._create_schema = bool(create_schema)
        store._ready = False
        sync_flavour.open_at_once(store)
        return store

    @property
    def pool(self) -> ConnectionPool[Connection]:
        """The connection pool."""
        return self._pool

    @property
    def schema(self) -> str:
        """The schema holding the table."""
        return self._sql.schema

    @property
    def table(self) -> str:
        """The table the sessions are kept in."""
        return self._sql.table

    @property
    def timeout(self) -> float:
        """Seconds to wait for a connection, and for the server to answer."""
        return self._timeout

    def open(self) -> None:
        """Do now what `from_dsn` left for the first call: open the pool and,
        if asked, create the schema. Does nothing if already done, or if the
        pool was brought by the caller.

        Raises:
            StoreError: the store is closed, or creating the schema failed.

        """
        if self._closed:
            raise StoreError("postgres store failed (open): the store is closed")
        with self._ready_lock:
            # Checked under the lock: another task may have opened meanwhile.
            if self._ready or self._closed:
                return
            self._pool.open()
            if self._create_schema:
                self._create_schema_now()
            self._ready = True

    @contextmanager
    def _connection(self, action: str) -> Iterator[tuple[Connection, dict[str, bytes]]]:
        if not self._ready:
            self.open()
        with self._borrow(action) as borrowed:
            yield borrowed

    @contextmanager
    def _borrow(self, action: str) -> Iterator[tuple[Connection, dict[str, bytes]]]:
        if self._closed:
            raise StoreError(f"postgres store failed ({action}): the store is closed")
        watch: Watch | None = None
        try:
            with self._pool.connection(timeout=self._timeout) as conn:
                statements = self._sql.rendered(conn)
                with self._watchdog.watch(conn) as watch:
                    yield conn, statements
        except psycopg.Error as exc:
            timed_out = watch is not None and watch.timed_out
            raise failure(action, exc, timeout=self._timeout, timed_out=timed_out) from None

    def execute(self, op: Op) -> Result:
        """Carry out `op` (see `satchel.Store`): one statement, one round trip.

        Raises:
            StoreError: the server is unreachable, did not answer within the
                timeout, or refused the statement (a missing table, say).

        """
        match op:
            case Load():
                with self._connection("load") as (conn, sql):
                    cursor = conn.execute(sql["load"], (op.key, op.now), binary=True)
                    row = cursor.fetchone()
                if row is None:
                    return Missing()
                return Loaded(value=bytes(row[0]), revision=int(row[1]))
            case Save():
                with self._connection("save") as (conn, sql):
                    if op.expected_revision is not None:
                        # An update never touches the owner: a key's owner never changes.
                        params: tuple[object, ...] = (
                            op.value,
                            op.expires_at,
                            op.key,
                            op.expected_revision,
                            op.now,
                        )
                        cursor = conn.execute(sql["update"], params)
                    elif op.owner is None:
                        params = (op.key, op.expires_at, op.value, op.now)
                        cursor = conn.execute(sql["create"], params)
                    elif op.max_owned is None:
                        params = (op.key, op.expires_at, op.value, op.owner, op.now)
                        cursor = conn.execute(sql["create_owned"], params)
                    else:
                        named = {
                            "key": op.key,
                            "expires_at": op.expires_at,
                            "value": op.value,
                            "owner": op.owner,
                            "now": op.now,
                            "keep": max(op.max_owned - 1, 0),
                        }
                        cursor = conn.execute(sql["create_capped"], named)
                    changed = cursor.rowcount
                return Saved(revision=op.new_revision) if changed == 1 else Conflict()
            case Delete():
                # One row holds the record and its owner: deleting it unfiles it.
                with self._connection("delete") as (conn, sql):
                    conn.execute(sql["delete"], (op.key,))
                return Deleted()
            case ListOwned():
                with self._connection("list_owned") as (conn, sql):
                    cursor = conn.execute(sql["list_owned"], (op.owner, op.now), binary=True)
                    rows = cursor.fetchall()
                return Owned(records=tuple((str(key), bytes(value)) for key, value in rows))
            case EndOwned():
                with self._connection("end_owned") as (conn, sql):
                    params = (op.owner, op.now, op.keep, op.only, op.only)
                    cursor = conn.execute(sql["end_owned"], params)
                    ended = cursor.rowcount
                return Ended(count=ended)
            case _:
                raise TypeError(f"not a store operation: {type(op).__name__}")

    def sweep(self, now: float, *, batch_size: int = DEFAULT_SWEEP_BATCH) -> int:
        """Delete the records whose expiry is at or before `now`; return how many.

        Deletes at most `batch_size` rows per statement (each its own
        transaction, on a connection borrowed for that batch alone), until a
        batch comes back short. Sweeps running at once in several processes
        share the work rather than wait for each other.

        Raises:
            ConfigurationError: `batch_size` is not a positive integer.
            StoreError: the server failed.

        """
        batch_size = check_count("batch_size", batch_size)
        total = 0
        while True:
            with self._connection("sweep") as (conn, sql):
                cursor = conn.execute(sql["sweep"], (now, batch_size, now))
                removed = cursor.rowcount
            total += removed
            if removed < batch_size:
                return total

    def create_schema(self) -> None:
        """Create the schema, the table and its indexes, unless they all exist.

        Runs ``schema.sql`` (shipped in this package) with the configured
        names, in one transaction, under an advisory lock so several
        processes may call it at once. When everything exists it only looks,
        so a role without the CREATE privilege may call it too. A table made
        before the ``owner`` column is left as it is, with a warning logged
        (``satchel_postgres`` logger): run ``owner_migration.sql`` to add it.

        Raises:
            StoreError: the server failed or refused (no privilege, say).

        """
        if not self._ready:
            # Opening may itself create the schema (from_dsn's create_schema=True).
            self.open()
        self._create_schema_now()

    def _create_schema_now(self) -> None:
        # Not through _connection: open() calls this while holding the lock.
        with self._borrow("create_schema") as (conn, sql):
            cursor = conn.execute(sql["exists"], self._sql.names())
            found = cursor.fetchone()
            if found is not None and all(found):
                return
            if found is not None and found[1] and not found[3]:
                # A table made before the owner column: never altered here.
                logger.warning(
                    "postgres store: table %s.%s has no owner column; sessions without an "
                    "owner work, listing and ending sessions by owner fail until "
                    "owner_migration.sql is run (see 'Owner index' in the PostgreSQL "
                    "store's documentation)",
                    self.schema,
                    self.table,
                )
                return
            with conn.transaction():
                conn.execute(sql["lock"], (SCHEMA_LOCK,))
                if found is None or not found[0]:
                    conn.execute(sql["create_namespace"])
                conn.execute(sql["create_table"])

    def close(self) -> None:
        """Stop the store; later calls raise `StoreError`.

        Closes the pool only if `from_dsn` made it. Closing twice is harmless.
        """
        if self._closed:
            return
        self._closed = True
        self._watchdog.stop()
        if self._owns_pool:
            with self._ready_lock:
                self._pool.close()

    def __enter__(self) -> PostgresStore:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r}, table={self.table!r})"
