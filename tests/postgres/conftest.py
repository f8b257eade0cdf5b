"""Fixtures for the PostgreSQL driver tests: a schema per run, tables per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from satchel_postgres import PostgresStore

from .proxy import TcpProxy


@pytest.fixture(scope="session")
def pg_schema(postgres_dsn: str, run_id: str) -> Iterator[str]:
    """This run's own schema, created for it and dropped (with everything in it) after."""
    schema = f"satchel_test_{run_id}".lower()
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield schema
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def admin(postgres_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A direct autocommit connection, to look at and tamper with the tables."""
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def table() -> str:
    """A table name no other test uses."""
    return f"t_{uuid.uuid4().hex[:16]}"


@pytest.fixture
def store(postgres_dsn: str, pg_schema: str, table: str) -> Iterator[PostgresStore]:
    """A synchronous store on its own table, made by create_schema()."""
    with PostgresStore.from_dsn(
        postgres_dsn, schema=pg_schema, table=table, create_schema=True
    ) as store:
        yield store


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    """A TCP proxy in front of the server, not yet started."""
    tcp_proxy = TcpProxy()
    try:
        yield tcp_proxy
    finally:
        tcp_proxy.stop()


def qualified(schema: str, table: str) -> sql.Composed:
    """``"schema"."table"`` for SQL the tests write themselves."""
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
