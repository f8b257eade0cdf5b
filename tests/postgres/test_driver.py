"""The PostgreSQL driver's own behaviour, beyond the conformance suite."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from satchel import (
    ConfigurationError,
    Conflict,
    Delete,
    Keyring,
    Load,
    Loaded,
    Missing,
    Op,
    Save,
    Saved,
    SessionProtocol,
    Settings,
    StoreError,
)
from satchel.testing import Browser, ManualClock, parse_set_cookie
from satchel_postgres import AsyncPostgresStore, PostgresStore

from .conftest import qualified
from .proxy import TcpProxy

pytestmark = pytest.mark.postgres

NOW = 1_700_000_000.0
ROOT = Path(__file__).resolve().parents[2]


def save(
    key: str,
    value: bytes = b"v",
    expected_revision: int | None = None,
    *,
    expires_at: float = NOW + 100,
    now: float = NOW,
    owner: str | None = None,
    max_owned: int | None = None,
) -> Save:
    return Save(
        key=key,
        value=value,
        ttl=expires_at - now,
        expires_at=expires_at,
        expected_revision=expected_revision,
        now=now,
        owner=owner,
        max_owned=max_owned,
    )


def table_exists(admin: psycopg.Connection[Any], schema: str, table: str) -> bool:
    row = admin.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename = %s",
        (schema, table),
    ).fetchone()
    assert row is not None
    return bool(row[0])


def schema_exists(admin: psycopg.Connection[Any], schema: str) -> bool:
    row = admin.execute(
        "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)
    ).fetchone()
    assert row is not None
    return bool(row[0])


def row_count(admin: psycopg.Connection[Any], schema: str, table: str) -> int:
    row = admin.execute(
        sql.SQL("SELECT count(*) FROM {}").format(qualified(schema, table))
    ).fetchone()
    assert row is not None
    return int(row[0])


def catalog(admin: psycopg.Connection[Any], schema: str, table: str) -> dict[str, Any]:
    """The table's definition, with its own name replaced by TABLE."""
    columns = admin.execute(
        "SELECT column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "ORDER BY ordinal_position",
        (schema, table),
    ).fetchall()
    indexes = admin.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s "
        "ORDER BY indexname",
        (schema, table),
    ).fetchall()
    return {
        "columns": columns,
        "indexes": sorted(
            (name.replace(table, "TABLE"), definition.replace(table, "TABLE"))
            for name, definition in indexes
        ),
    }


# -- the schema -------------------------------------------------------------------


def test_create_schema_makes_the_documented_table(
    store: PostgresStore, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    described = catalog(admin, pg_schema, table)
    assert described["columns"] == [
        ("key", "text", "NO", None),
        ("revision", "bigint", "NO", None),
        ("expires_at", "double precision", "NO", None),
        ("value", "bytea", "NO", None),
        ("owner", "text", "YES", None),
    ]
    target = f"{pg_schema}.TABLE"
    assert described["indexes"] == [
        ("TABLE_expires_at", f"CREATE INDEX TABLE_expires_at ON {target} USING btree (expires_at)"),
        (
            "TABLE_owner",
            f"CREATE INDEX TABLE_owner ON {target} USING btree (owner, expires_at) "
            "WHERE (owner IS NOT NULL)",
        ),
        ("TABLE_pkey", f"CREATE UNIQUE INDEX TABLE_pkey ON {target} USING btree (key)"),
    ]


def test_create_schema_is_idempotent_and_keeps_rows(
    store: PostgresStore, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    before = catalog(admin, pg_schema, table)
    store.execute(save("kept", b"still here"))
    store.create_schema()
    store.create_schema()
    assert catalog(admin, pg_schema, table) == before
    assert store.execute(Load(key="kept", now=NOW)) == Loaded(value=b"still here", revision=1)


def test_create_schema_runs_the_packaged_schema_sql(
    store: PostgresStore, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    # schema.sql run by hand (as from a migration) makes exactly what
    # create_schema() made.
    text = resources.files("satchel_postgres").joinpath("schema.sql").read_text("utf-8")
    by_hand = f"{table}_by_hand"
    admin.execute(
        sql.SQL(text).format(
            schema=sql.Identifier(pg_schema),
            table=sql.Identifier(by_hand),
            index=sql.Identifier(f"{by_hand}_expires_at"),
            owner_index=sql.Identifier(f"{by_hand}_owner"),
        )
    )
    assert catalog(admin, pg_schema, by_hand) == catalog(admin, pg_schema, table)


def test_docs_include_the_schema_file_verbatim() -> None:
    page = (ROOT / "docs" / "stores" / "postgres.md").read_text("utf-8")
    assert '--8<-- "stores/postgres/satchel_postgres/schema.sql"' in page


def test_create_schema_creates_a_missing_schema(
    postgres_dsn: str, admin: psycopg.Connection[Any], pg_schema: str
) -> None:
    schema = f"{pg_schema}_extra"
    try:
        with PostgresStore.from_dsn(postgres_dsn, schema=schema, table="sessions") as store:
            assert not schema_exists(admin, schema)
            store.create_schema()
            assert table_exists(admin, schema, "sessions")
            assert store.execute(save("k")) == Saved(revision=1)
    finally:
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def test_nothing_is_created_by_construction_or_use(
    postgres_dsn: str, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    missing_schema = f"{pg_schema}_never"
    with (
        PostgresStore.from_dsn(postgres_dsn, schema=pg_schema, table=table) as store,
        PostgresStore.from_dsn(postgres_dsn, schema=missing_schema, table=table) as elsewhere,
    ):
        with pytest.raises(StoreError, match=r"UndefinedTable.*create_schema\(\)"):
            store.execute(Load(key="k", now=NOW))
        with pytest.raises(StoreError, match="UndefinedTable"):
            elsewhere.execute(save("k"))
        with pytest.raises(StoreError, match="UndefinedTable"):
            store.sweep(NOW)
    assert not table_exists(admin, pg_schema, table)
    assert not schema_exists(admin, missing_schema)

    async def scenario() -> None:
        store = AsyncPostgresStore.from_dsn(postgres_dsn, schema=pg_schema, table=table)
        try:
            with pytest.raises(StoreError, match="UndefinedTable"):
                await store.execute(Load(key="k", now=NOW))
        finally:
            await store.aclose()

    asyncio.run(scenario())
    assert not table_exists(admin, pg_schema, table)


def test_create_schema_needs_no_privilege_once_everything_exists(
    postgres_dsn: str, admin: psycopg.Connection[Any], pg_schema: str, table: str, run_id: str
) -> None:
    # The application's role may only read and write rows; the owner made the table.
    role = f"satchel_app_{run_id}".lower()
    target = qualified(pg_schema, table)
    admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        admin.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(pg_schema), sql.Identifier(role)
            )
        )
        app_dsn = re.sub(r"//[^@/]*@", f"//{role}@", postgres_dsn)
        with PostgresStore.from_dsn(app_dsn, schema=pg_schema, table=table) as store:
            # Nothing exists yet, and the role may not create it.
            with pytest.raises(StoreError, match="InsufficientPrivilege"):
                store.create_schema()
            with PostgresStore.from_dsn(postgres_dsn, schema=pg_schema, table=table) as owner:
                owner.create_schema()
            admin.execute(
                sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(
                    target, sql.Identifier(role)
                )
            )
            store.create_schema()
            assert store.execute(save("k")) == Saved(revision=1)
    finally:
        admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_concurrent_create_schema_calls_all_succeed(
    postgres_dsn: str, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    # Several workers starting at once, each creating the schema.
    errors: list[BaseException] = []
    stores = [PostgresStore.from_dsn(postgres_dsn, schema=pg_schema, table=table) for _ in range(6)]
    start = threading.Barrier(len(stores))

    def create(store: PostgresStore) -> None:
        try:
            start.wait(timeout=30)
            store.create_schema()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for store in stores:
        store.close()
    assert errors == []
    assert table_exists(admin, pg_schema, table)


# -- identifiers and settings --------------------------------------------------------


BAD_IDENTIFIERS = [
    'a"b',
    "x; DROP TABLE y",
    "sessions; --",
    "a.b",
    "a b",
    "Sessions",
    "",
    "1abc",
    "a-b",
    "é",
    "a" * 64,
    7,
    None,
]


@pytest.mark.parametrize("name", BAD_IDENTIFIERS)
@pytest.mark.parametrize("setting", ["schema", "table"])
def test_identifiers_are_refused(
    postgres_dsn: str, admin: psycopg.Connection[Any], setting: str, name: object
) -> None:
    with pytest.raises(ConfigurationError, match=rf"^{setting}:"):
        PostgresStore.from_dsn(postgres_dsn, **{setting: name})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=rf"^{setting}:"):
        AsyncPostgresStore.from_dsn(postgres_dsn, **{setting: name})  # type: ignore[arg-type]
    with (
        ConnectionPool(postgres_dsn, min_size=1, open=False) as pool,
        pytest.raises(ConfigurationError, match=rf"^{setting}:"),
    ):
        PostgresStore(pool, **{setting: name})  # type: ignore[arg-type]


def test_identifier_limits() -> None:
    with pytest.raises(ConfigurationError, match=r"^schema:.*reserved"):
        PostgresStore.from_dsn("dbname=x", schema="pg_sessions")
    # The index adds "_expires_at" to the table's name, within PostgreSQL's 63.
    with pytest.raises(ConfigurationError, match=r"^table:.*52"):
        PostgresStore.from_dsn("dbname=x", table="t" * 53)


def test_longest_names_work(postgres_dsn: str, admin: psycopg.Connection[Any], run_id: str) -> None:
    # This run's own names, padded to the longest allowed, so runs never collide.
    schema = f"s_{run_id}".lower().ljust(63, "s")
    table = f"t_{run_id}".lower().ljust(52, "t")
    try:
        with PostgresStore.from_dsn(
            postgres_dsn, schema=schema, table=table, create_schema=True
        ) as store:
            assert store.execute(save("k")) == Saved(revision=1)
        assert table_exists(admin, schema, table)
    finally:
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.mark.parametrize(
    ("settings", "name"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"timeout": "5"}, "timeout"),
        ({"min_size": -1}, "min_size"),
        ({"min_size": 1.5}, "min_size"),
        ({"max_size": 0}, "max_size"),
        ({"min_size": 5, "max_size": 4}, "max_size"),
    ],
)
def test_settings_are_validated(settings: dict[str, object], name: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"^{name}:"):
        PostgresStore.from_dsn("dbname=x", **settings)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=rf"^{name}:"):
        AsyncPostgresStore.from_dsn("dbname=x", **settings)  # type: ignore[arg-type]


def test_a_malformed_dsn_is_refused_without_quoting_it() -> None:
    secret = "hunter2-very-secret"
    # libpq's own messages would quote the first one's secret.
    for dsn in (f"host=db {secret}", f"postgresql://app:{secret}@db/x?bogus=1"):
        with pytest.raises(ConfigurationError, match=r"^dsn:") as caught:
            PostgresStore.from_dsn(dsn)
        assert secret not in str(caught.value)
    with pytest.raises(ConfigurationError, match=r"^dsn:"):
        AsyncPostgresStore.from_dsn(b"dbname=x")  # type: ignore[arg-type]


def test_pool_type_is_checked(postgres_dsn: str) -> None:
    with (
        ConnectionPool(postgres_dsn, min_size=1, open=False) as pool,
        pytest.raises(ConfigurationError, match=r"^pool:"),
    ):
        AsyncPostgresStore(pool)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"^pool:"):
        PostgresStore(object())  # type: ignore[arg-type]


def test_batch_size_is_validated(store: PostgresStore) -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigurationError, match=r"^batch_size:"):
            store.sweep(NOW, batch_size=bad)  # type: ignore[arg-type]


# -- expiry and sweeping -------------------------------------------------------------


def test_expired_rows_are_never_loaded_even_before_a_sweep(
    store: PostgresStore, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    expires_at = NOW + 10
    store.execute(save("k", b"old", expires_at=expires_at))
    assert store.execute(Load(key="k", now=expires_at - 0.001)) == Loaded(value=b"old", revision=1)
    assert store.execute(Load(key="k", now=expires_at)) == Missing()
    assert store.execute(save("k", b"revived", 1, now=expires_at)) == Conflict()
    # Still stored, only ignored, until a sweep removes it.
    assert row_count(admin, pg_schema, table) == 1
    assert store.sweep(expires_at) == 1
    assert row_count(admin, pg_schema, table) == 0


def test_the_store_never_reads_the_database_clock(store: PostgresStore) -> None:
    # Times far from the server's now() in both directions behave the same.
    for now in (1.0, 4_000_000_000.0):
        key = f"k{now}"
        store.execute(save(key, expires_at=now + 5, now=now))
        assert store.execute(Load(key=key, now=now)) == Loaded(value=b"v", revision=1)
        assert store.execute(Load(key=key, now=now + 5)) == Missing()


def log_deletes_per_statement(admin: psycopg.Connection[Any], schema: str, table: str) -> str:
    """Record, for each DELETE statement on the table, how many rows it removed."""
    log = f"{table}_deletes"
    names = {
        "log": qualified(schema, log),
        "target": qualified(schema, table),
        "function": qualified(schema, f"{table}_log"),
        "trigger": sql.Identifier(f"{table}_log"),
    }
    admin.execute(sql.SQL("CREATE TABLE {log} (id bigserial, removed bigint)").format(**names))
    admin.execute(
        sql.SQL(
            "CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO {log} (removed) SELECT count(*) FROM old_rows; RETURN NULL; END $$"
        ).format(**names)
    )
    admin.execute(
        sql.SQL(
            "CREATE TRIGGER {trigger} AFTER DELETE ON {target} "
            "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        ).format(**names)
    )
    return log


def deletes_logged(admin: psycopg.Connection[Any], schema: str, log: str) -> list[int]:
    rows = admin.execute(
        sql.SQL("SELECT removed FROM {} ORDER BY id").format(qualified(schema, log))
    ).fetchall()
    return [int(row[0]) for row in rows]


def test_sweep_deletes_in_bounded_batches(
    store: PostgresStore, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    for n in range(25):
        store.execute(save(f"old{n}", expires_at=NOW + 10 + n))
    for n in range(5):
        store.execute(save(f"live{n}", expires_at=NOW + 1000))
    log = log_deletes_per_statement(admin, pg_schema, table)
    assert store.sweep(NOW + 500, batch_size=10) == 25
    assert deletes_logged(admin, pg_schema, log) == [10, 10, 5]
    for n in range(5):
        assert store.execute(Load(key=f"live{n}", now=NOW + 500)) == Loaded(value=b"v", revision=1)
    # A count that divides evenly ends with one empty batch, and nothing expired is left.
    for n in range(20):
        store.execute(save(f"again{n}", expires_at=NOW + 10))
    assert store.sweep(NOW + 500, batch_size=10) == 20
    assert deletes_logged(admin, pg_schema, log) == [10, 10, 5, 10, 10, 0]
    assert row_count(admin, pg_schema, table) == 5


def test_async_sweep_deletes_in_bounded_batches(
    postgres_dsn: str, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    async def scenario() -> tuple[int, int]:
        async with AsyncPostgresStore.from_dsn(
            postgres_dsn, schema=pg_schema, table=table, create_schema=True
        ) as store:
            for n in range(7):
                await store.execute(save(f"old{n}", expires_at=NOW + 10))
            await store.execute(save("live", expires_at=NOW + 1000))
            log_deletes_per_statement(admin, pg_schema, table)
            swept = await store.sweep(NOW + 500, batch_size=3)
            again = await store.sweep(NOW + 500, batch_size=3)
            return swept, again

    assert asyncio.run(scenario()) == (7, 0)
    assert deletes_logged(admin, pg_schema, f"{table}_deletes") == [3, 3, 1, 0]
    assert row_count(admin, pg_schema, table) == 1


def test_sweep_passes_over_a_row_being_saved(
    store: PostgresStore, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    # A request is saving an expired-looking row (its transaction holds the
    # row): the sweep neither waits for it nor deletes it.
    store.execute(save("busy", expires_at=NOW + 10))
    store.execute(save("idle", expires_at=NOW + 10))
    target = qualified(pg_schema, table)
    with admin.transaction():
        admin.execute(
            sql.SQL("UPDATE {} SET expires_at = %s WHERE key = 'busy'").format(target),
            (NOW + 1000,),
        )
        assert store.sweep(NOW + 500) == 1
    assert store.execute(Load(key="busy", now=NOW + 500)) == Loaded(value=b"v", revision=1)
    assert store.execute(Load(key="idle", now=NOW)) == Missing()


# -- corrupt records -----------------------------------------------------------------


def test_corrupt_record_opens_a_fresh_session_with_a_new_id(
    store: PostgresStore, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    clock = ManualClock()
    protocol = SessionProtocol(
        Settings(keyring=Keyring(["a secret that is long enough 42"])), storage="server"
    )
    browser = Browser(protocol, clock, store)
    browser.request(lambda session: session.__setitem__("user", "ada"))
    first_cookie = dict(browser.cookies)
    target = qualified(pg_schema, table)
    rows = admin.execute(sql.SQL("SELECT key FROM {}").format(target)).fetchall()
    assert len(rows) == 1
    corrupt_key = rows[0][0]
    admin.execute(
        sql.SQL("UPDATE {} SET value = %s WHERE key = %s").format(target),
        (b"\xc1 not a record \x00\xff", corrupt_key),
    )

    def handler(session: Any) -> tuple[object, bool]:
        seen = (session.get("user"), session.is_new)
        session["user"] = "bob"
        return seen

    clock.advance(1)
    response = browser.request(handler)
    assert response.value == (None, True)
    assert response.outcome.ended_reason == "invalid"
    assert response.ops == ("Load", "Delete", "Save")
    # A new ID in the cookie, the corrupt row gone, the new session stored elsewhere.
    assert browser.cookies != first_cookie
    ((_name, value, _),) = (parse_set_cookie(header) for header in response.set_cookies)
    assert value not in first_cookie.values()
    keys = [row[0] for row in admin.execute(sql.SQL("SELECT key FROM {}").format(target))]
    assert len(keys) == 1
    assert keys[0] != corrupt_key
    assert browser.request(lambda session: session.get("user")).value == "bob"


# -- failures ------------------------------------------------------------------------


def test_errors_name_the_operation_never_the_key_or_value(
    store: PostgresStore, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    secret = b"\x00secret-session-bytes\xff" * 10
    key = "k" * 40
    store.execute(save(key, secret))
    admin.execute(sql.SQL("DROP TABLE {}").format(qualified(pg_schema, table)))
    failures = []
    calls: list[tuple[str, Callable[[], object]]] = [
        ("save", lambda: store.execute(save(key, secret, 1))),
        ("load", lambda: store.execute(Load(key=key, now=NOW))),
        ("delete", lambda: store.execute(Delete(key=key))),
        ("sweep", lambda: store.sweep(NOW)),
    ]
    for action, call in calls:
        with pytest.raises(StoreError) as caught:
            call()
        failures.append(caught.value)
        message = str(caught.value)
        assert f"postgres store failed ({action})" in message
        assert "UndefinedTable (SQLSTATE 42P01)" in message
        assert key not in message
        assert "secret" not in message
    # The psycopg error (whose detail could quote a value) is not chained along.
    assert all(error.__cause__ is None and error.__suppress_context__ for error in failures)


def test_a_duplicate_key_error_does_not_leak_the_key(
    store: PostgresStore, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    # A unique index the driver does not expect: PostgreSQL's detail line
    # would quote the key; the store's error must not.
    key = "a-rather-distinctive-store-key"
    store.execute(save(key, b"first"))
    admin.execute(
        sql.SQL("CREATE UNIQUE INDEX {} ON {} (value)").format(
            sql.Identifier(f"{table}_value"), qualified(pg_schema, table)
        )
    )
    with pytest.raises(StoreError, match="UniqueViolation") as caught:
        store.execute(save(key + "2", b"first"))
    assert key not in str(caught.value)
    assert "first" not in str(caught.value)


def test_closed_store_raises_store_error(postgres_dsn: str, pg_schema: str, table: str) -> None:
    store = PostgresStore.from_dsn(postgres_dsn, schema=pg_schema, table=table, create_schema=True)
    store.close()
    store.close()  # closing twice is harmless
    with pytest.raises(StoreError, match="closed"):
        store.execute(Load(key="k", now=NOW))
    with pytest.raises(StoreError, match="closed"):
        store.sweep(NOW)
    assert store.pool.closed


def test_closed_async_store_raises_store_error(
    postgres_dsn: str, pg_schema: str, table: str
) -> None:
    async def scenario() -> None:
        store = AsyncPostgresStore.from_dsn(postgres_dsn, schema=pg_schema, table=table)
        await store.aclose()
        await store.close()  # closing twice is harmless
        with pytest.raises(StoreError, match="closed"):
            await store.execute(Load(key="k", now=NOW))
        with pytest.raises(StoreError, match="closed"):
            await store.open()
        assert store.pool.closed

    asyncio.run(scenario())


def test_a_pool_brought_by_the_caller_stays_theirs(
    postgres_dsn: str, pg_schema: str, table: str
) -> None:
    with ConnectionPool(
        postgres_dsn, kwargs={"autocommit": True}, min_size=1, max_size=2, open=True
    ) as pool:
        with PostgresStore(pool, schema=pg_schema, table=table) as store:
            store.create_schema()
            assert store.execute(save("k")) == Saved(revision=1)
        assert not pool.closed
        with pool.connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(qualified(pg_schema, table))
            ).fetchone()
        assert row == (1,)

    async def scenario() -> None:
        async with AsyncConnectionPool(
            postgres_dsn, kwargs={"autocommit": True}, min_size=1, max_size=2, open=False
        ) as pool:
            async with AsyncPostgresStore(pool, schema=pg_schema, table=table) as store:
                assert await store.execute(Load(key="k", now=NOW)) == Loaded(value=b"v", revision=1)
            assert not pool.closed

    asyncio.run(scenario())


# -- the async flavour's lazy pool ---------------------------------------------------


def test_async_from_dsn_is_a_plain_call_and_opens_on_first_use(
    postgres_dsn: str, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    # As a server's start-up code would: no event loop is running here.
    store = AsyncPostgresStore.from_dsn(
        postgres_dsn, schema=pg_schema, table=table, create_schema=True
    )
    assert store.pool.closed
    assert not table_exists(admin, pg_schema, table)

    async def first_requests() -> list[object]:
        # Several requests arrive at once; the pool opens and the table is made once.
        results = await asyncio.gather(
            *(store.execute(save(f"k{n}")) for n in range(5)),
        )
        return list(results)

    async def later() -> object:
        return await store.execute(Load(key="k0", now=NOW))

    async def scenario() -> tuple[list[object], object]:
        try:
            return await first_requests(), await later()
        finally:
            await store.aclose()

    created, loaded = asyncio.run(scenario())
    assert created == [Saved(revision=1)] * 5
    assert loaded == Loaded(value=b"v", revision=1)
    assert table_exists(admin, pg_schema, table)


def test_async_open_fails_fast_and_is_retried(
    proxy: TcpProxy, pg_schema: str, table: str, admin: psycopg.Connection[Any]
) -> None:
    # open() at start-up reports an unreachable server; once it is back, the
    # next call finishes the set-up (the schema) the failed one left undone.
    store = AsyncPostgresStore.from_dsn(
        proxy.dsn(), schema=pg_schema, table=table, create_schema=True, timeout=2.0
    )

    async def scenario() -> object:
        try:
            with pytest.raises(StoreError, match=r"\(create_schema\).*PoolTimeout"):
                await store.open()
            proxy.start()
            return await store.execute(save("k"))
        finally:
            await store.aclose()

    assert asyncio.run(scenario()) == Saved(revision=1)
    assert table_exists(admin, pg_schema, table)


# -- round trips and stale connections -----------------------------------------------


def test_each_op_is_one_round_trip(proxy: TcpProxy, pg_schema: str, table: str) -> None:
    proxy.start()
    with PostgresStore.from_dsn(
        proxy.dsn(), schema=pg_schema, table=table, min_size=1, max_size=1, create_schema=True
    ) as store:
        proxy.reset_counts()
        ops: list[Op] = [
            save("k"),
            Load(key="k", now=NOW),
            save("k", b"v2", 1),
            save("k", b"stale", 1),
            Load(key="k", now=NOW),
            Delete(key="k"),
        ]
        for op in ops:
            store.execute(op)
        # The health check before each use costs nothing on a quiet connection.
        assert proxy.round_trips() == len(ops)
        proxy.reset_counts()
        assert store.sweep(NOW + 500) == 0
        assert proxy.round_trips() == 1


def test_async_each_op_is_one_round_trip(proxy: TcpProxy, pg_schema: str, table: str) -> None:
    proxy.start()

    async def scenario() -> int:
        async with AsyncPostgresStore.from_dsn(
            proxy.dsn(), schema=pg_schema, table=table, min_size=1, max_size=1, create_schema=True
        ) as store:
            proxy.reset_counts()
            await store.execute(save("k"))
            await store.execute(Load(key="k", now=NOW))
            await store.execute(save("k", b"v2", 1))
            await store.execute(Delete(key="k"))
            return proxy.round_trips()

    assert asyncio.run(scenario()) == 4


def terminate(admin: psycopg.Connection[Any], pid: int) -> None:
    """Kill a backend and wait until it is gone, so its hang-up has reached
    the client (pg_terminate_backend returns once the signal is sent)."""
    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
        if row.fetchone() == (0,):
            return
        time.sleep(0.01)
    raise AssertionError(f"backend {pid} did not exit")


def backend_pids(store: PostgresStore) -> list[int]:
    with store.pool.connection() as conn:
        return [conn.info.backend_pid]


def test_a_connection_the_server_closed_is_replaced_unseen(
    postgres_dsn: str, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    with PostgresStore.from_dsn(
        postgres_dsn, schema=pg_schema, table=table, min_size=1, max_size=1, create_schema=True
    ) as store:
        assert store.execute(save("k")) == Saved(revision=1)
        (pid,) = backend_pids(store)
        terminate(admin, pid)
        # The server has hung up on the pooled connection: the next op gets a new one.
        assert store.execute(Load(key="k", now=NOW)) == Loaded(value=b"v", revision=1)
        assert backend_pids(store) != [pid]


def test_async_a_connection_the_server_closed_is_replaced_unseen(
    postgres_dsn: str, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    async def scenario() -> tuple[object, int, int]:
        async with AsyncPostgresStore.from_dsn(
            postgres_dsn, schema=pg_schema, table=table, min_size=1, max_size=1, create_schema=True
        ) as store:
            await store.execute(save("k"))
            async with store.pool.connection() as conn:
                pid = conn.info.backend_pid
            terminate(admin, pid)
            loaded = await store.execute(Load(key="k", now=NOW))
            async with store.pool.connection() as conn:
                return loaded, pid, conn.info.backend_pid

    loaded, old_pid, new_pid = asyncio.run(scenario())
    assert loaded == Loaded(value=b"v", revision=1)
    assert new_pid != old_pid
