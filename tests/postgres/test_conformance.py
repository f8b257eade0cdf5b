"""The store conformance suite over the PostgreSQL driver, sync and async."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg_pool import ConnectionPool

from satchel.testing import AsyncStoreConformance, StoreConformance
from satchel.testing._conformance import RunCoroutine
from satchel_postgres import AsyncPostgresStore, PostgresStore

pytestmark = pytest.mark.postgres


class TestPostgresStore(StoreConformance):
    @pytest.fixture
    def store(self, postgres_dsn: str, pg_schema: str) -> Iterator[PostgresStore]:
        with PostgresStore.from_dsn(
            postgres_dsn, schema=pg_schema, table="conformance_sync", create_schema=True
        ) as store:
            yield store


class TestAsyncPostgresStore(AsyncStoreConformance):
    @pytest.fixture
    def store(
        self, postgres_dsn: str, pg_schema: str, run: RunCoroutine
    ) -> Iterator[AsyncPostgresStore]:
        # A plain call: the pool opens (and the table is made) on first use,
        # on this test's loop.
        store = AsyncPostgresStore.from_dsn(
            postgres_dsn, schema=pg_schema, table="conformance_async", create_schema=True
        )
        yield store
        run(store.aclose())


class TestPostgresStoreOnOwnPool(StoreConformance):
    """A pool the application built, without autocommit: each op is then its
    own transaction, committed when the connection goes back."""

    @pytest.fixture
    def store(self, postgres_dsn: str, pg_schema: str) -> Iterator[PostgresStore]:
        with ConnectionPool(postgres_dsn, min_size=1, max_size=10, open=True) as pool:
            store = PostgresStore(pool, schema=pg_schema, table="conformance_own_pool")
            store.create_schema()
            yield store
            store.close()
