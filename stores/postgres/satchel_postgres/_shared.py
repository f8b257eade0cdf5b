"""What the sync and async stores share: settings, SQL, error mapping, liveness.

Nothing here waits on the network; the two flavours do their own I/O.
"""

from __future__ import annotations

import logging
import math
import os
import re
import select
import socket
from importlib import resources
from typing import Any, Final, TypeAlias

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout

from satchel import ConfigurationError, StoreError, check_count, check_seconds

__all__ = [
    "DEFAULT_SCHEMA",
    "DEFAULT_SWEEP_BATCH",
    "DEFAULT_TABLE",
    "DEFAULT_TIMEOUT",
    "SCHEMA_LOCK",
    "Statements",
    "check_identifier",
    "check_pool_sizes",
    "check_timeout",
    "connection_kwargs",
    "failure",
    "is_surely_idle",
    "logger",
    "round_trip_limit",
    "schema_sql",
    "sever",
]

AnyConnection: TypeAlias = "psycopg.Connection[Any] | psycopg.AsyncConnection[Any]"

DEFAULT_SCHEMA: Final = "public"
DEFAULT_TABLE: Final = "satchel_sessions"
DEFAULT_TIMEOUT: Final = 5.0
DEFAULT_SWEEP_BATCH: Final = 1000

logger: Final = logging.getLogger("satchel_postgres")

# The server's own statement timeout gets the first chance to end a slow
# statement (the connection then survives); the client gives up this much
# later, on a server that has stopped answering altogether.
_SEVER_GRACE: Final = 0.5

# Serialises concurrent create_schema() calls (several workers starting at
# once), since concurrent CREATE ... IF NOT EXISTS can still collide.
SCHEMA_LOCK: Final = 0x5A7C_4E15_0000_0001

# Lowercase only: a quoted mixed-case name would be a different table from
# the same name typed unquoted in psql.
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_MAX_IDENTIFIER = 63  # NAMEDATALEN - 1
_INDEX_SUFFIX: Final = "_expires_at"
_OWNER_INDEX_SUFFIX: Final = "_owner"  # shorter than _INDEX_SUFFIX, so it fits too


def check_identifier(setting: str, value: object) -> str:
    """Validate a schema or table name; `setting` names it in the error."""
    limit = _MAX_IDENTIFIER - (len(_INDEX_SUFFIX) if setting == "table" else 0)
    if not isinstance(value, str) or _IDENTIFIER.fullmatch(value) is None or len(value) > limit:
        raise ConfigurationError(
            f"{setting}: must be a lowercase SQL identifier (a-z, 0-9 and _, not starting "
            f"with a digit, at most {limit} characters), got {value!r}"
        )
    if setting == "schema" and value.startswith("pg_"):
        raise ConfigurationError(f"schema: names starting with 'pg_' are reserved, got {value!r}")
    return value


def check_timeout(timeout: object) -> float:
    """Validate the timeout: a finite number of seconds above zero."""
    return check_seconds("timeout", timeout)


def check_pool_sizes(min_size: object, max_size: object) -> tuple[int, int]:
    """Validate the pool's bounds."""
    min_size = check_count("min_size", min_size, minimum=0)
    if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < max(1, min_size):
        raise ConfigurationError(
            f"max_size: must be an integer >= 1 and >= min_size ({min_size}), got {max_size!r}"
        )
    return min_size, max_size


def round_trip_limit(timeout: float) -> float:
    """Seconds a round trip may take before the client closes the connection."""
    return timeout + _SEVER_GRACE


def connection_kwargs(dsn: object, timeout: float) -> dict[str, Any]:
    """Connection parameters a pool built by ``from_dsn`` adds to `dsn`.

    Autocommit (each op is one statement and its own transaction), a server
    statement timeout, and a connect timeout unless the DSN sets one. The
    DSN's own ``options`` are kept, and come last so they win.
    """
    if not isinstance(dsn, str):
        raise ConfigurationError(f"dsn: must be a str, got {type(dsn).__name__}")
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        # libpq's message may quote the string, password included: leave it out.
        raise ConfigurationError("dsn: not a valid PostgreSQL connection string or URI") from None
    options = f"-c statement_timeout={max(1, round(timeout * 1000))}"
    if params.get("options"):
        options = f"{options} {params['options']}"
    kwargs: dict[str, Any] = {"autocommit": True, "options": options}
    if params.get("connect_timeout") is None:
        # libpq counts whole seconds and enforces at least 2.
        kwargs["connect_timeout"] = max(2, math.ceil(timeout))
    return kwargs


def schema_sql() -> str:
    """The packaged ``schema.sql``, with its ``{schema}``, ``{table}``, ``{index}``
    and ``{owner_index}`` slots.
    """
    return resources.files(__package__).joinpath("schema.sql").read_text(encoding="utf-8")


class Statements:
    """Every statement the store runs, with the identifiers quoted by psycopg.

    The compositions are built at construction; their text is rendered on the
    first connection (psycopg 3.1 needs one to quote identifiers) and reused.
    """

    __slots__ = (
        "_composed",
        "_rendered",
        "index",
        "owner_index",
        "schema",
        "table",
    )

    def __init__(self, schema: str, table: str) -> None:
        self.schema = schema
        self.table = table
        self.index = table + _INDEX_SUFFIX
        self.owner_index = table + _OWNER_INDEX_SUFFIX
        names = {
            "schema": sql.Identifier(schema),
            "table": sql.Identifier(table),
            "index": sql.Identifier(self.index),
            "owner_index": sql.Identifier(self.owner_index),
        }
        target = sql.SQL("{schema}.{table}").format(**names)
        self._composed: dict[str, sql.Composable] = {
            "load": sql.SQL(
                "SELECT value, revision FROM {t} WHERE key = %s AND expires_at > %s"
            ).format(t=target),
            # A create may replace an expired row, never a live one: the
            # DO UPDATE's WHERE leaves a live row alone, and the row count
            # of 0 then means Conflict.
            "create": sql.SQL(
                "INSERT INTO {t} AS existing (key, revision, expires_at, value) "
                "VALUES (%s, 1, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET revision = 1, "
                "expires_at = EXCLUDED.expires_at, value = EXCLUDED.value "
                "WHERE existing.expires_at <= %s"
            ).format(t=target),
            # Sessions with an owner. The plain create above never names the
            # owner column, so a table made before it keeps working for
            # sessions without one.
            "create_owned": sql.SQL(
                "INSERT INTO {t} AS existing (key, revision, expires_at, value, owner) "
                "VALUES (%s, 1, %s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET revision = 1, "
                "expires_at = EXCLUDED.expires_at, value = EXCLUDED.value, owner = EXCLUDED.owner "
                "WHERE existing.expires_at <= %s"
            ).format(t=target),
            # The same create, after ending the owner's live sessions beyond
            # the `keep` (max_owned - 1) latest-expiring ones, in the same
            # statement: one round trip, one transaction. The new key is
            # never among them. Concurrent logins of one owner each see the
            # rows that existed when they began, so k racing logins leave at
            # most max_owned + k - 1 (docs/stores/postgres.md). Only the
            # rows to end are locked, in key order, as end_owned does.
            "create_capped": sql.SQL(
                "WITH evicted AS (DELETE FROM {t} WHERE key IN ("
                "SELECT key FROM {t} WHERE key IN ("
                "SELECT key FROM {t} WHERE owner = %(owner)s AND expires_at > %(now)s "
                "AND key <> %(key)s ORDER BY expires_at DESC OFFSET %(keep)s"
                ") ORDER BY key FOR UPDATE)) "
                "INSERT INTO {t} AS existing (key, revision, expires_at, value, owner) "
                "VALUES (%(key)s, 1, %(expires_at)s, %(value)s, %(owner)s) "
                "ON CONFLICT (key) DO UPDATE SET revision = 1, "
                "expires_at = EXCLUDED.expires_at, value = EXCLUDED.value, owner = EXCLUDED.owner "
                "WHERE existing.expires_at <= %(now)s"
            ).format(t=target),
            "list_owned": sql.SQL(
                "SELECT key, value FROM {t} WHERE owner = %s AND expires_at > %s"
            ).format(t=target),
            # Every statement that deletes several of an owner's rows locks
            # them first, in key order, so two of them running at once wait
            # for each other instead of deadlocking. A row saved meanwhile
            # is locked after the save and ended too; one created after the
            # statement began is not seen, and lives. keep and only may be
            # NULL: typed, since `%s IS NULL` alone says nothing of the type.
            "end_owned": sql.SQL(
                "DELETE FROM {t} WHERE key IN ("
                "SELECT key FROM {t} WHERE owner = %s AND expires_at > %s "
                "AND key IS DISTINCT FROM %s::text AND (%s::text IS NULL OR key = %s::text) "
                "ORDER BY key FOR UPDATE)"
            ).format(t=target),
            "update": sql.SQL(
                "UPDATE {t} SET value = %s, expires_at = %s, revision = revision + 1 "
                "WHERE key = %s AND revision = %s AND expires_at > %s"
            ).format(t=target),
            "delete": sql.SQL("DELETE FROM {t} WHERE key = %s").format(t=target),
            # LIMIT bounds each batch's transaction. SKIP LOCKED lets
            # concurrent sweeps (one per worker) split the work instead of
            # queueing; the outer expiry test is re-checked on the row's
            # latest version, so a row refreshed meanwhile survives.
            "sweep": sql.SQL(
                "DELETE FROM {t} WHERE key IN ("
                "SELECT key FROM {t} WHERE expires_at <= %s LIMIT %s FOR UPDATE SKIP LOCKED"
                ") AND expires_at <= %s"
            ).format(t=target),
            "exists": sql.SQL(
                "SELECT "
                "EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %(schema)s), "
                "EXISTS (SELECT 1 FROM pg_catalog.pg_tables "
                "WHERE schemaname = %(schema)s AND tablename = %(table)s), "
                "EXISTS (SELECT 1 FROM pg_catalog.pg_indexes "
                "WHERE schemaname = %(schema)s AND indexname = %(index)s), "
                "EXISTS (SELECT 1 FROM pg_catalog.pg_attribute "
                "WHERE attrelid = pg_catalog.to_regclass("
                "pg_catalog.quote_ident(%(schema)s) || '.' || pg_catalog.quote_ident(%(table)s)) "
                "AND attname = 'owner' AND NOT attisdropped), "
                "EXISTS (SELECT 1 FROM pg_catalog.pg_indexes "
                "WHERE schemaname = %(schema)s AND indexname = %(owner_index)s)"
            ),
            "lock": sql.SQL("SELECT pg_catalog.pg_advisory_xact_lock(%s)"),
            "create_namespace": sql.SQL("CREATE SCHEMA IF NOT EXISTS {schema}").format(**names),
            "create_table": sql.SQL(schema_sql()).format(**names),
        }
        self._rendered: dict[str, bytes] | None = None

    def names(self) -> dict[str, str]:
        """The parameters of the ``exists`` statement."""
        return {
            "schema": self.schema,
            "table": self.table,
            "index": self.index,
            "owner_index": self.owner_index,
        }

    def rendered(self, conn: AnyConnection) -> dict[str, bytes]:
        """Every statement's text, rendered once."""
        rendered = self._rendered
        if rendered is None:
            rendered = {name: stmt.as_bytes(conn) for name, stmt in self._composed.items()}
            self._rendered = rendered
        return rendered


def is_surely_idle(conn: AnyConnection) -> bool:
    """True if an idle pooled connection has heard nothing from the server.

    A server that restarted, or a proxy that dropped the connection, leaves
    the socket readable (an error message, or end of file). A quiet socket
    needs no round trip to check; a readable one does.
    """
    pgconn = conn.pgconn
    if pgconn.status != psycopg.pq.ConnStatus.OK:
        return False
    try:
        fd = pgconn.socket
    except psycopg.Error:
        return False
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return not poller.poll(0)
    readable, _, _ = select.select([fd], [], [], 0)
    return not readable


def sever(conn: AnyConnection) -> None:
    """Shut down `conn`'s socket, so a wait on a silent server ends at once.

    The connection is left broken; the pool discards it when it comes back.
    The file descriptor stays open (only a duplicate is closed), so it cannot
    be reused under the thread still waiting on it.
    """
    try:
        fd = conn.pgconn.socket
    except psycopg.Error:
        return  # already closed
    try:
        with socket.socket(fileno=os.dup(fd)) as duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already shut down or reset: nothing left to wait for


def failure(action: str, exc: BaseException, *, timeout: float, timed_out: bool) -> StoreError:
    """The `StoreError` for `exc`, raised while the store did `action`.

    Names the action and the error's type; never a key or a value: server
    errors contribute their primary message only (the detail line is where
    PostgreSQL quotes values), and client-side errors come from libpq or the
    pool, which never see parameters.
    """
    prefix = f"postgres store failed ({action})"
    if timed_out:
        return StoreError(
            f"{prefix}: the server did not answer within {round_trip_limit(timeout):g} s; "
            "the connection was closed"
        )
    name = type(exc).__name__
    if isinstance(exc, PoolTimeout):
        return StoreError(
            f"{prefix}: PoolTimeout: no connection within {timeout:g} s "
            "(server unreachable, or every connection busy)"
        )
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate
        if state is not None:
            primary = exc.diag.message_primary or ""
            text = f"{prefix}: {name} (SQLSTATE {state}): {primary}"
            if isinstance(exc, psycopg.errors.UndefinedTable | psycopg.errors.InvalidSchemaName):
                text += "; has create_schema() been run?"
            elif isinstance(exc, psycopg.errors.UndefinedColumn):
                text += (
                    "; the table was made before the owner column: run owner_migration.sql "
                    "(see 'Owner index' in the PostgreSQL store's documentation)"
                )
            return StoreError(text)
    message = " ".join(str(exc).split())
    return StoreError(f"{prefix}: {name}: {message}" if message else f"{prefix}: {name}")
