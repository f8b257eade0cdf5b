"""Faults: refused connections, a server that dies or hangs, slow statements.

The system server cannot be stopped from here, so a real TCP proxy stands in
for it (see `proxy.py`): stopped, it refuses; stopping it drops every
connection; silent, it accepts and answers nothing. Every fault must become
`StoreError` within the store's timeout, and the same store object must work
again once the "server" is back.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Awaitable, Callable, Coroutine
from time import monotonic
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg import sql

from satchel import Load, Loaded, Save, Saved, StoreError
from satchel_postgres import AsyncPostgresStore, PostgresStore

from .conftest import qualified
from .proxy import TcpProxy

pytestmark = pytest.mark.postgres

NOW = 1_700_000_000.0
TIMEOUT = 2.0
# The bound every failure must arrive within: the timeout, the half second a
# silent server is given beyond it, and slack for a loaded test machine.
BOUND = TIMEOUT + 0.5 + 1.5

T = TypeVar("T")


def save(key: str, value: bytes = b"v", expected_revision: int | None = None) -> Save:
    return Save(
        key=key,
        value=value,
        ttl=100.0,
        expires_at=NOW + 100,
        expected_revision=expected_revision,
        now=NOW,
    )


@pytest.fixture
def ready_table(postgres_dsn: str, pg_schema: str, table: str) -> str:
    """A table made directly on the server, so stores behind the proxy can use it."""
    with PostgresStore.from_dsn(postgres_dsn, schema=pg_schema, table=table) as store:
        store.create_schema()
    return table


def fails_in_time(call: Callable[[], object], match: str) -> StoreError:
    """Run `call`, which must raise `StoreError` matching `match` within `BOUND`.

    It runs on its own thread, so a store that hangs fails the test instead
    of hanging the run.
    """
    outcome: list[BaseException | object] = []
    worker = threading.Thread(target=lambda: outcome.append(_attempt(call)), daemon=True)
    started = monotonic()
    worker.start()
    worker.join(timeout=BOUND + 5)
    assert not worker.is_alive(), "the store hung"
    assert monotonic() - started < BOUND
    (error,) = outcome
    assert isinstance(error, StoreError), error
    assert re.search(match, str(error)), str(error)
    return error


def _attempt(call: Callable[[], object]) -> BaseException | object:
    try:
        return call()
    except BaseException as exc:
        return exc


def run_bounded(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`asyncio.run(scenario())` on its own thread, so a hung store fails the test."""
    outcome: list[BaseException | object] = []
    worker = threading.Thread(
        target=lambda: outcome.append(_attempt(lambda: asyncio.run(scenario()))), daemon=True
    )
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the store hung"
    (result,) = outcome
    if isinstance(result, BaseException):
        raise result
    return result  # type: ignore[return-value]


async def afails_in_time(call: Callable[[], Awaitable[T]], match: str) -> StoreError:
    """The async `fails_in_time`: a store that hangs fails the test."""
    started = monotonic()
    with pytest.raises(StoreError, match=match) as caught:
        async with asyncio.timeout(BOUND + 5):
            await call()
    assert monotonic() - started < BOUND
    return caught.value


# -- sync ----------------------------------------------------------------------------


def test_refused_before_first_use(proxy: TcpProxy, pg_schema: str, ready_table: str) -> None:
    with PostgresStore.from_dsn(
        proxy.dsn(), schema=pg_schema, table=ready_table, timeout=TIMEOUT
    ) as store:
        fails_in_time(lambda: store.execute(save("k")), r"\(save\): PoolTimeout")
        fails_in_time(lambda: store.sweep(NOW), r"\(sweep\): PoolTimeout")
        proxy.start()
        assert store.execute(save("k")) == Saved(revision=1)


def test_server_dies_mid_run_and_comes_back(
    proxy: TcpProxy, pg_schema: str, ready_table: str
) -> None:
    proxy.start()
    with PostgresStore.from_dsn(
        proxy.dsn(), schema=pg_schema, table=ready_table, timeout=TIMEOUT
    ) as store:
        assert store.execute(save("k", b"before")) == Saved(revision=1)
        assert store.execute(Load(key="k", now=NOW)) == Loaded(value=b"before", revision=1)
        proxy.stop()
        fails_in_time(lambda: store.execute(Load(key="k", now=NOW)), r"\(load\)")
        fails_in_time(lambda: store.execute(save("k", b"lost", 1)), r"\(save\)")
        proxy.start()
        assert store.execute(Load(key="k", now=NOW)) == Loaded(value=b"before", revision=1)
        assert store.execute(save("k", b"after", 1)) == Saved(revision=2)


def test_silent_server_before_first_use(proxy: TcpProxy, pg_schema: str, ready_table: str) -> None:
    proxy.start(mode="silent")
    with PostgresStore.from_dsn(
        proxy.dsn(), schema=pg_schema, table=ready_table, timeout=TIMEOUT
    ) as store:
        fails_in_time(lambda: store.execute(save("k")), r"\(save\): PoolTimeout")
        proxy.set_mode("forward")
        assert store.execute(save("k")) == Saved(revision=1)


def test_server_stops_answering_mid_run(proxy: TcpProxy, pg_schema: str, ready_table: str) -> None:
    proxy.start()
    with PostgresStore.from_dsn(
        proxy.dsn(), schema=pg_schema, table=ready_table, timeout=TIMEOUT, max_size=2
    ) as store:
        assert store.execute(save("k", b"before")) == Saved(revision=1)
        proxy.set_mode("silent")
        # The statement is sent and never answered: the store gives up and
        # closes the connection instead of waiting forever.
        fails_in_time(
            lambda: store.execute(save("k", b"lost", 1)),
            r"\(save\): the server did not answer within 2.5 s",
        )
        fails_in_time(lambda: store.execute(Load(key="k", now=NOW)), r"\(load\)")
        proxy.set_mode("forward")
        assert store.execute(Load(key="k", now=NOW)) == Loaded(value=b"before", revision=1)


def backend_pid(store: PostgresStore) -> int:
    with store.pool.connection() as conn:
        return conn.info.backend_pid


def hold_row(admin: psycopg.Connection[Any], schema: str, table: str, key: str) -> None:
    admin.execute(
        sql.SQL("SELECT 1 FROM {} WHERE key = %s FOR UPDATE").format(qualified(schema, table)),
        (key,),
    )


def test_slow_statement_hits_the_statement_timeout(
    postgres_dsn: str, admin: psycopg.Connection[Any], pg_schema: str, ready_table: str
) -> None:
    with PostgresStore.from_dsn(
        postgres_dsn,
        schema=pg_schema,
        table=ready_table,
        timeout=TIMEOUT,
        min_size=1,
        max_size=1,
    ) as store:
        assert store.execute(save("k")) == Saved(revision=1)
        pid = backend_pid(store)
        with admin.transaction():
            # Another transaction holds the row: the update waits on its lock
            # until the server's statement timeout cancels it.
            hold_row(admin, pg_schema, ready_table, "k")
            fails_in_time(
                lambda: store.execute(save("k", b"v2", 1)),
                r"\(save\): QueryCanceled \(SQLSTATE 57014\)",
            )
        # The server cancelled the statement, not the connection: it is reused.
        assert store.execute(save("k", b"v2", 1)) == Saved(revision=2)
        assert backend_pid(store) == pid


# -- async ---------------------------------------------------------------------------


def test_async_refused_before_first_use(proxy: TcpProxy, pg_schema: str, ready_table: str) -> None:
    async def scenario() -> object:
        async with AsyncPostgresStore.from_dsn(
            proxy.dsn(), schema=pg_schema, table=ready_table, timeout=TIMEOUT
        ) as store:
            await afails_in_time(lambda: store.execute(save("k")), r"\(save\): PoolTimeout")
            await afails_in_time(lambda: store.sweep(NOW), r"\(sweep\): PoolTimeout")
            proxy.start()
            return await store.execute(save("k"))

    assert run_bounded(scenario) == Saved(revision=1)


def test_async_server_dies_mid_run_and_comes_back(
    proxy: TcpProxy, pg_schema: str, ready_table: str
) -> None:
    proxy.start()

    async def scenario() -> list[object]:
        async with AsyncPostgresStore.from_dsn(
            proxy.dsn(), schema=pg_schema, table=ready_table, timeout=TIMEOUT
        ) as store:
            assert await store.execute(save("k", b"before")) == Saved(revision=1)
            proxy.stop()
            await afails_in_time(lambda: store.execute(Load(key="k", now=NOW)), r"\(load\)")
            await afails_in_time(lambda: store.execute(save("k", b"lost", 1)), r"\(save\)")
            proxy.start()
            return [
                await store.execute(Load(key="k", now=NOW)),
                await store.execute(save("k", b"after", 1)),
            ]

    assert run_bounded(scenario) == [Loaded(value=b"before", revision=1), Saved(revision=2)]


def test_async_silent_server_before_first_use(
    proxy: TcpProxy, pg_schema: str, ready_table: str
) -> None:
    proxy.start(mode="silent")

    async def scenario() -> object:
        async with AsyncPostgresStore.from_dsn(
            proxy.dsn(), schema=pg_schema, table=ready_table, timeout=TIMEOUT
        ) as store:
            await afails_in_time(lambda: store.execute(save("k")), r"\(save\): PoolTimeout")
            proxy.set_mode("forward")
            return await store.execute(save("k"))

    assert run_bounded(scenario) == Saved(revision=1)


def test_async_server_stops_answering_mid_run(
    proxy: TcpProxy, pg_schema: str, ready_table: str
) -> None:
    proxy.start()

    async def scenario() -> object:
        async with AsyncPostgresStore.from_dsn(
            proxy.dsn(), schema=pg_schema, table=ready_table, timeout=TIMEOUT, max_size=2
        ) as store:
            assert await store.execute(save("k", b"before")) == Saved(revision=1)
            proxy.set_mode("silent")
            await afails_in_time(
                lambda: store.execute(save("k", b"lost", 1)),
                r"\(save\): the server did not answer within 2.5 s",
            )
            await afails_in_time(lambda: store.execute(Load(key="k", now=NOW)), r"\(load\)")
            proxy.set_mode("forward")
            return await store.execute(Load(key="k", now=NOW))

    assert run_bounded(scenario) == Loaded(value=b"before", revision=1)


def test_async_slow_statement_hits_the_statement_timeout(
    postgres_dsn: str, admin: psycopg.Connection[Any], pg_schema: str, ready_table: str
) -> None:
    async def scenario() -> tuple[object, int, int]:
        async with AsyncPostgresStore.from_dsn(
            postgres_dsn,
            schema=pg_schema,
            table=ready_table,
            timeout=TIMEOUT,
            min_size=1,
            max_size=1,
        ) as store:
            await store.execute(save("k"))
            async with store.pool.connection() as conn:
                pid = conn.info.backend_pid
            with admin.transaction():
                hold_row(admin, pg_schema, ready_table, "k")
                await afails_in_time(
                    lambda: store.execute(save("k", b"v2", 1)),
                    r"\(save\): QueryCanceled \(SQLSTATE 57014\)",
                )
            saved = await store.execute(save("k", b"v2", 1))
            async with store.pool.connection() as conn:
                return saved, pid, conn.info.backend_pid

    saved, before, after = run_bounded(scenario)
    assert saved == Saved(revision=2)
    assert after == before
