"""satchel-postgres: a satchel session store in one PostgreSQL table.

`PostgresStore` (sync) and `AsyncPostgresStore` (asyncio) run the core's
`Load`, `Save` and `Delete` ops, and the owner index's `ListOwned` and
`EndOwned`, on a psycopg 3 connection pool, one statement each, and offer
``sweep(now)`` to delete expired rows. The table is created
by ``create_schema()`` from the packaged ``schema.sql``, never implicitly.
"""

from __future__ import annotations

from ._async import AsyncPostgresStore
from ._sync import PostgresStore

__all__ = ["AsyncPostgresStore", "PostgresStore"]
