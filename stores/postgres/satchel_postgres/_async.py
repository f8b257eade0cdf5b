"""The asynchronous PostgreSQL store, on a psycopg `AsyncConnectionPool`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, TypeAlias, final

import psycopg
from psycopg_pool import AsyncConnectionPool

from satchel import (
    ConfigurationError,
    Conflict,
    Delete,
    Deleted,
    Load,
    Loaded,
    Missing,
    Op,
    Result,
    Save,
    Saved,
    StoreError,
    check_count,
)

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
    round_trip_limit,
    sever,
)

__all__ = ["AsyncPostgresStore"]

AsyncConnection: TypeAlias = psycopg.AsyncConnection[Any]


@final
class _Watch:
    """Severs one connection if a round trip on it overruns its limit.

    psycopg's async calls have no timeout of their own, and cancelling one
    makes psycopg ask the (silent) server to cancel, which can take longer
    still. Shutting the socket down ends the wait at once.
    """

    __slots__ = ("_conn", "_handle", "timed_out")

    def __init__(self, conn: AsyncConnection, limit: float) -> None:
        self._conn = conn
        self.timed_out = False
        self._handle = asyncio.get_running_loop().call_later(limit, self._expire)

    def _expire(self) -> None:
        self.timed_out = True
        sever(self._conn)

    def __enter__(self) -> _Watch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._handle.cancel()


@final
class AsyncPostgresStore:
    """The asynchronous flavour of `PostgresStore`, with the same behaviour.

    Args:
        pool: the pool to borrow connections from. The store uses it but does
            not own it: open it before use (``await pool.open()``) and close
            it yourself. Its connections should be in autocommit mode.
        schema: the schema (namespace) holding the table; a lowercase identifier.
        table: the table's name; a lowercase identifier of at most 52 characters.
        timeout: seconds to wait for a pooled connection, and (plus half a
            second) for the server to answer a statement before the
            connection is closed and the op fails.

    Raises:
        ConfigurationError: a setting is invalid; the message names it.

    """

    __slots__ = (
        "_closed",
        "_create_schema",
        "_limit",
        "_owns_pool",
        "_pool",
        "_ready",
        "_ready_lock",
        "_sql",
        "_timeout",
    )

    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection],
        *,
        schema: str = DEFAULT_SCHEMA,
        table: str = DEFAULT_TABLE,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not isinstance(pool, AsyncConnectionPool):
            raise ConfigurationError(
                f"pool: must be a psycopg_pool.AsyncConnectionPool, got {type(pool).__name__}"
            )
        self._sql = Statements(check_identifier("schema", schema), check_identifier("table", table))
        self._timeout = check_timeout(timeout)
        self._limit = round_trip_limit(self._timeout)
        self._pool = pool
        self._owns_pool = False
        self._create_schema = False
        self._closed = False
        # A pool the caller brought is theirs to open; nothing to do first.
        self._ready = True
        # Created here, bound to the loop that first waits on it.
        self._ready_lock = asyncio.Lock()

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
    ) -> AsyncPostgresStore:
        """Build a store with its own pool, connecting to `dsn`; no I/O yet.

        A plain (not async) call, so it works at start-up before any event
        loop runs. The pool is opened by the first `execute`, `sweep`,
        `create_schema` or `open` call, on the loop making it, which must
        be the loop that uses the store from then on; `create_schema=True`
        runs `create_schema` at that point too (and again on the next call
        if it failed). Await `open` at start-up to fail fast instead.
        The pool's settings are those of `PostgresStore.from_dsn`, and
        `aclose` closes it.

        Raises:
            ConfigurationError: a setting (or the DSN's syntax) is invalid.

        """
        schema = check_identifier("schema", schema)
        table = check_identifier("table", table)
        timeout = check_timeout(timeout)
        min_size, max_size = check_pool_sizes(min_size, max_size)
        kwargs = connection_kwargs(dsn, timeout)
        limit = round_trip_limit(timeout)

        async def check(conn: AsyncConnection) -> None:
            # pool.connection() calls this before handing a connection out.
            if is_surely_idle(conn):
                return
            with _Watch(conn, limit):
                await conn.execute("")

        pool: AsyncConnectionPool[AsyncConnection] = AsyncConnectionPool(
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
        store._create_schema = bool(create_schema)
        store._ready = False
        return store

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConnection]:
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

    async def open(self) -> None:
        """Do now what `from_dsn` left for the first call: open the pool and,
        if asked, create the schema. Does nothing if already done, or if the
        pool was brought by the caller.

        Raises:
            StoreError: the store is closed, or creating the schema failed.

        """
        if self._closed:
            raise StoreError("postgres store failed (open): the store is closed")
        async with self._ready_lock:
            # Checked under the lock: another task may have opened meanwhile.
            if self._ready or self._closed:
                return
            await self._pool.open()
            if self._create_schema:
                await self._create_schema_now()
            self._ready = True

    @asynccontextmanager
    async def _connection(
        self, action: str
    ) -> AsyncIterator[tuple[AsyncConnection, dict[str, bytes]]]:
        if not self._ready:
            await self.open()
        async with self._borrow(action) as borrowed:
            yield borrowed

    @asynccontextmanager
    async def _borrow(self, action: str) -> AsyncIterator[tuple[AsyncConnection, dict[str, bytes]]]:
        if self._closed:
            raise StoreError(f"postgres store failed ({action}): the store is closed")
        watch: _Watch | None = None
        try:
            async with self._pool.connection(timeout=self._timeout) as conn:
                statements = self._sql.rendered(conn)
                with _Watch(conn, self._limit) as watch:
                    yield conn, statements
        except psycopg.Error as exc:
            timed_out = watch is not None and watch.timed_out
            raise failure(action, exc, timeout=self._timeout, timed_out=timed_out) from None

    async def execute(self, op: Op) -> Result:
        """Carry out `op` (see `satchel.AsyncStore`): one statement, one round trip.

        Raises:
            StoreError: the server is unreachable, did not answer within the
                timeout, or refused the statement (a missing table, say).

        """
        match op:
            case Load():
                async with self._connection("load") as (conn, sql):
                    cursor = await conn.execute(sql["load"], (op.key, op.now), binary=True)
                    row = await cursor.fetchone()
                if row is None:
                    return Missing()
                return Loaded(value=bytes(row[0]), revision=int(row[1]))
            case Save():
                async with self._connection("save") as (conn, sql):
                    if op.expected_revision is None:
                        params: tuple[object, ...] = (op.key, op.expires_at, op.value, op.now)
                        cursor = await conn.execute(sql["create"], params)
                    else:
                        params = (op.value, op.expires_at, op.key, op.expected_revision, op.now)
                        cursor = await conn.execute(sql["update"], params)
                    changed = cursor.rowcount
                return Saved(revision=op.new_revision) if changed == 1 else Conflict()
            case Delete():
                async with self._connection("delete") as (conn, sql):
                    await conn.execute(sql["delete"], (op.key,))
                return Deleted()
            case _:
                raise TypeError(f"not a store operation: {type(op).__name__}")

    async def sweep(self, now: float, *, batch_size: int = DEFAULT_SWEEP_BATCH) -> int:
        """Delete the records whose expiry is at or before `now`; return how many.

        In batches of at most `batch_size` rows, as `PostgresStore.sweep`.

        Raises:
            ConfigurationError: `batch_size` is not a positive integer.
            StoreError: the server failed.

        """
        batch_size = check_count("batch_size", batch_size)
        total = 0
        while True:
            async with self._connection("sweep") as (conn, sql):
                cursor = await conn.execute(sql["sweep"], (now, batch_size, now))
                removed = cursor.rowcount
            total += removed
            if removed < batch_size:
                return total

    async def create_schema(self) -> None:
        """Create the schema, the table and its index, unless they all exist.

        As `PostgresStore.create_schema`.

        Raises:
            StoreError: the server failed or refused (no privilege, say).

        """
        if not self._ready:
            # Opening may itself create the schema (from_dsn's create_schema=True).
            await self.open()
        await self._create_schema_now()

    async def _create_schema_now(self) -> None:
        # Not through _connection: open() calls this while holding the lock.
        async with self._borrow("create_schema") as (conn, sql):
            cursor = await conn.execute(sql["exists"], self._sql.names())
            found = await cursor.fetchone()
            if found is not None and all(found):
                return
            async with conn.transaction():
                await conn.execute(sql["lock"], (SCHEMA_LOCK,))
                if found is None or not found[0]:
                    await conn.execute(sql["create_namespace"])
                await conn.execute(sql["create_table"])

    async def aclose(self) -> None:
        """Stop the store; later calls raise `StoreError`.

        Closes the pool only if `from_dsn` made it. Closing twice is harmless.
        """
        if self._closed:
            return
        self._closed = True
        if self._owns_pool:
            async with self._ready_lock:
                await self._pool.close()

    async def close(self) -> None:
        """The same as `aclose`, named like the core's async stores' ``close``."""
        await self.aclose()

    async def __aenter__(self) -> AsyncPostgresStore:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncPostgresStore(schema={self.schema!r}, table={self.table!r})"
