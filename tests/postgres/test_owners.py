"""Sessions by owner in the PostgreSQL driver: what the conformance suite
cannot show (the schema, the migration of an older table, round trips, the
plan, concurrency), and the whole flow through the core.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
from collections.abc import Callable
from importlib import resources
from typing import Any

import psycopg
import pytest
from psycopg import sql

import satchel
from satchel import (
    Conflict,
    Delete,
    Deleted,
    Ended,
    EndOwned,
    Keyring,
    ListOwned,
    Load,
    Loaded,
    Op,
    Owned,
    Result,
    Saved,
    Session,
    SessionProtocol,
    Settings,
    StoreError,
)
from satchel.testing import Browser, ManualClock
from satchel_postgres import AsyncPostgresStore, PostgresStore
from satchel_postgres._shared import Statements

from ..conftest import SECRET
from .conftest import qualified
from .proxy import TcpProxy
from .test_driver import NOW, catalog, save

pytestmark = pytest.mark.postgres

TTL = 100.0  # save()'s default lifetime

# The table as create_schema() made it before the owner column existed.
PRE_OWNER_SCHEMA = """
CREATE TABLE {schema}.{table} (
    key text PRIMARY KEY,
    revision bigint NOT NULL,
    expires_at double precision NOT NULL,
    value bytea NOT NULL
);
CREATE INDEX {index} ON {schema}.{table} (expires_at);
"""

_keys = itertools.count()


def unique(prefix: str = "k") -> str:
    return f"{prefix}{next(_keys)}"


def listed(store: PostgresStore, owner: str, now: float = NOW) -> set[str]:
    result = store.execute(ListOwned(owner=owner, now=now))
    assert isinstance(result, Owned)
    return {key for key, _ in result.records}


def names(table: str) -> dict[str, sql.Identifier]:
    return {
        "table": sql.Identifier(table),
        "index": sql.Identifier(f"{table}_expires_at"),
        "owner_index": sql.Identifier(f"{table}_owner"),
    }


def make_pre_owner_table(admin: psycopg.Connection[Any], schema: str, table: str) -> None:
    admin.execute(sql.SQL(PRE_OWNER_SCHEMA).format(schema=sql.Identifier(schema), **names(table)))


def run_owner_migration(admin: psycopg.Connection[Any], schema: str, table: str) -> None:
    """The packaged migration, run as its header says: each statement on its
    own, in autocommit (the way psql runs a file)."""
    text = resources.files("satchel_postgres").joinpath("owner_migration.sql").read_text("utf-8")
    composed = sql.SQL(text).format(schema=sql.Identifier(schema), **names(table))
    statements = [s for s in composed.as_string(admin).split(";\n") if strip_comments(s)]
    assert len(statements) == 4
    for statement in statements:
        admin.execute(statement.encode())


def strip_comments(statement: str) -> str:
    return "\n".join(
        line for line in statement.splitlines() if not line.lstrip().startswith("--")
    ).strip()


# -- the schema -------------------------------------------------------------------


def test_the_owner_index_is_partial_on_owner_then_expiry(
    store: PostgresStore, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    row = admin.execute(
        "SELECT i.indisvalid, i.indisunique, "
        "ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY AS k(num, pos) "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num ORDER BY k.pos), "
        "pg_get_expr(i.indpred, i.indrelid) "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s",
        (pg_schema, f"{table}_owner"),
    ).fetchone()
    assert row == (True, False, ["owner", "expires_at"], "(owner IS NOT NULL)")
    column = admin.execute(
        "SELECT data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s AND column_name = 'owner'",
        (pg_schema, table),
    ).fetchone()
    assert column == ("text", "YES")


def test_the_owner_is_stored_in_its_column_and_only_there(
    store: PostgresStore, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    owned, plain = unique(), unique()
    store.execute(save(owned, b"a", owner="ada", max_owned=3))
    store.execute(save(plain, b"b"))
    store.execute(save(owned, b"a2", 1, owner="ada"))
    rows = admin.execute(
        sql.SQL("SELECT key, owner, revision FROM {} ORDER BY key").format(
            qualified(pg_schema, table)
        )
    ).fetchall()
    assert sorted(rows) == sorted([(owned, "ada", 2), (plain, None, 1)])


def test_a_create_over_an_expired_row_takes_the_new_owner(
    store: PostgresStore, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    key = unique()
    store.execute(save(key, owner="ada", expires_at=NOW + 1))
    later = NOW + 10
    assert store.execute(
        save(key, b"new", owner="bob", max_owned=2, expires_at=later + TTL, now=later)
    ) == Saved(revision=1)
    assert listed(store, "ada", later) == set()
    assert listed(store, "bob", later) == {key}


# -- a table made before the owner column -------------------------------------------


def test_an_older_table_keeps_working_without_owners_and_fails_clearly_with_them(
    postgres_dsn: str,
    admin: psycopg.Connection[Any],
    pg_schema: str,
    table: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    make_pre_owner_table(admin, pg_schema, table)
    before = catalog(admin, pg_schema, table)
    with caplog.at_level(logging.WARNING, logger="satchel_postgres"):
        store = PostgresStore.from_dsn(
            postgres_dsn, schema=pg_schema, table=table, create_schema=True
        )
    with store:
        # create_schema() left the table alone, and said why.
        assert catalog(admin, pg_schema, table) == before
        warnings = [r for r in caplog.records if r.name == "satchel_postgres"]
        assert len(warnings) == 1
        assert warnings[0].levelno == logging.WARNING
        assert "has no owner column" in warnings[0].getMessage()
        assert "owner_migration.sql" in warnings[0].getMessage()

        # Sessions without an owner: every op as before.
        key = unique()
        assert store.execute(save(key)) == Saved(revision=1)
        assert store.execute(save(key, b"v2", 1)) == Saved(revision=2)
        assert store.execute(Load(key=key, now=NOW)) == Loaded(value=b"v2", revision=2)
        assert store.sweep(NOW) == 0

        # Every op that needs the owner fails, naming the column and the way out.
        needs_owner: list[tuple[str, Op]] = [
            ("save", save(unique(), owner="ada")),
            ("save", save(unique(), owner="ada", max_owned=5)),
            ("list_owned", ListOwned(owner="ada", now=NOW)),
            ("end_owned", EndOwned(owner="ada", now=NOW)),
        ]
        for action, op in needs_owner:
            with pytest.raises(StoreError) as caught:
                store.execute(op)
            message = str(caught.value)
            assert message.startswith(f"postgres store failed ({action}): UndefinedColumn")
            assert 'column "owner"' in message
            assert "owner_migration.sql" in message
            assert "ada" not in message
        assert store.execute(Delete(key=key)) == Deleted()


def test_the_documented_migration_brings_an_older_table_up_to_date(
    postgres_dsn: str, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    make_pre_owner_table(admin, pg_schema, table)
    old_key = unique()
    with PostgresStore.from_dsn(postgres_dsn, schema=pg_schema, table=table) as store:
        store.execute(save(old_key, b"from before"))

        run_owner_migration(admin, pg_schema, table)
        # Running it again changes nothing (IF NOT EXISTS throughout).
        run_owner_migration(admin, pg_schema, table)

        # The same table create_schema() makes today.
        fresh = f"{table}_fresh"
        with PostgresStore.from_dsn(
            postgres_dsn, schema=pg_schema, table=fresh, create_schema=True
        ):
            pass
        assert catalog(admin, pg_schema, table) == catalog(admin, pg_schema, fresh)

        # Old rows are kept, without an owner; owners work from now on.
        assert store.execute(Load(key=old_key, now=NOW)) == Loaded(value=b"from before", revision=1)
        new_key = unique()
        assert store.execute(save(new_key, owner="ada", max_owned=2)) == Saved(revision=1)
        assert listed(store, "ada") == {new_key}
        assert store.execute(EndOwned(owner="ada", now=NOW)) == Ended(count=1)
        assert store.execute(Load(key=old_key, now=NOW)) == Loaded(value=b"from before", revision=1)


# -- round trips and plans ----------------------------------------------------------


def test_each_owner_op_is_one_round_trip(proxy: TcpProxy, pg_schema: str, table: str) -> None:
    proxy.start()
    with PostgresStore.from_dsn(
        proxy.dsn(), schema=pg_schema, table=table, min_size=1, max_size=1, create_schema=True
    ) as store:
        first, second, third = unique(), unique(), unique()
        steps: list[tuple[Op, Result]] = [
            (save(first, owner="ada"), Saved(revision=1)),
            (save(second, owner="ada", max_owned=2, expires_at=NOW + TTL + 1), Saved(revision=1)),
            # At the cap: this create ends `first` in the same statement.
            (save(third, owner="ada", max_owned=2, expires_at=NOW + TTL + 2), Saved(revision=1)),
            (EndOwned(owner="ada", now=NOW, keep=third), Ended(count=1)),
            (save(third, b"v2", 1, owner="ada"), Saved(revision=2)),
            (ListOwned(owner="ada", now=NOW), Owned(records=((third, b"v2"),))),
            (EndOwned(owner="ada", now=NOW, only=third), Ended(count=1)),
            (Delete(key=third, owner="ada"), Deleted()),
        ]
        for op, expected in steps:
            proxy.reset_counts()
            assert store.execute(op) == expected, op
            assert proxy.round_trips() == 1, op
        assert listed(store, "ada") == set()


def test_async_each_owner_op_is_one_round_trip(proxy: TcpProxy, pg_schema: str, table: str) -> None:
    proxy.start()

    async def scenario() -> list[tuple[int, Result]]:
        async with AsyncPostgresStore.from_dsn(
            proxy.dsn(), schema=pg_schema, table=table, min_size=1, max_size=1, create_schema=True
        ) as store:
            counted = []
            ops: list[Op] = [
                save("a1", owner="ada", max_owned=1),
                save("a2", owner="ada", max_owned=1, expires_at=NOW + TTL + 1),
                ListOwned(owner="ada", now=NOW),
                EndOwned(owner="ada", now=NOW),
            ]
            for op in ops:
                proxy.reset_counts()
                result = await store.execute(op)
                counted.append((proxy.round_trips(), result))
            return counted

    assert asyncio.run(scenario()) == [
        (1, Saved(revision=1)),
        (1, Saved(revision=1)),
        (1, Owned(records=(("a2", b"v"),))),
        (1, Ended(count=1)),
    ]


def plan_index_names(plan: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(plan, dict):
        if "Index Name" in plan:
            found.add(plan["Index Name"])
        for value in plan.values():
            found |= plan_index_names(value)
    elif isinstance(plan, list):
        for value in plan:
            found |= plan_index_names(value)
    return found


def test_owner_statements_read_the_owner_index(
    store: PostgresStore, admin: psycopg.Connection[Any], pg_schema: str, table: str
) -> None:
    # 20,000 sessions: half without an owner, the rest spread over 1,000 owners.
    admin.execute(
        sql.SQL(
            "INSERT INTO {} (key, revision, expires_at, value, owner) "
            "SELECT 'k' || n, 1, %s + n, 'v', CASE WHEN n %% 2 = 0 THEN 'u' || (n %% 1000) END "
            "FROM generate_series(1, 20000) AS n"
        ).format(qualified(pg_schema, table)),
        (NOW,),
    )
    admin.execute(sql.SQL("ANALYZE {}").format(qualified(pg_schema, table)))
    statements = Statements(pg_schema, table).rendered(admin)
    owner_index = f"{table}_owner"
    cases: list[tuple[str, Any]] = [
        ("list_owned", ("u42", NOW)),
        ("end_owned", ("u42", NOW, "k1", None, None)),
        (
            "create_capped",
            {
                "key": "new",
                "expires_at": NOW + TTL,
                "value": b"v",
                "owner": "u42",
                "now": NOW,
                "keep": 4,
            },
        ),
    ]
    for name, params in cases:
        row = admin.execute(b"EXPLAIN (FORMAT JSON) " + statements[name], params).fetchone()
        assert row is not None
        plan = row[0] if not isinstance(row[0], str) else json.loads(row[0])
        assert owner_index in plan_index_names(plan), (name, plan)


# -- concurrency --------------------------------------------------------------------


def run_threads(count: int, work: Callable[[int], None]) -> None:
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        try:
            start.wait()
            work(index)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_concurrent_logins_of_one_owner_stay_within_the_cap(
    postgres_dsn: str, pg_schema: str, table: str
) -> None:
    threads, logins, cap = 8, 12, 5
    with PostgresStore.from_dsn(
        postgres_dsn,
        schema=pg_schema,
        table=table,
        min_size=threads,
        max_size=threads,
        create_schema=True,
    ) as store:
        order = itertools.count()
        order_lock = threading.Lock()
        created: list[tuple[str, Result]] = []

        def log_in(index: int) -> None:
            for _ in range(logins):
                with order_lock:
                    n = next(order)
                key = f"t{index}-{n}"
                # Later logins expire later: the least recently used go first.
                result = store.execute(
                    save(key, owner="ada", max_owned=cap, expires_at=NOW + TTL + n)
                )
                created.append((key, result))

        run_threads(threads, log_in)
        assert [result for _, result in created] == [Saved(revision=1)] * (threads * logins)
        survivors = listed(store, "ada")
        # Each racing login sees the rows of its start: k racing logins may
        # each add one, never more.
        assert cap <= len(survivors) <= cap + threads - 1

        # The next login alone brings the owner back to the cap, keeping the
        # latest-expiring sessions and itself.
        latest = NOW + TTL + threads * logins
        last = store.execute(save("last", owner="ada", max_owned=cap, expires_at=latest))
        assert last == Saved(revision=1)
        expected = set(sorted(survivors, key=lambda k: int(k.split("-")[1]))[-(cap - 1) :])
        assert listed(store, "ada") == expected | {"last"}


def test_a_login_racing_end_all_leaves_no_session_that_existed_when_it_ran(
    postgres_dsn: str, pg_schema: str, table: str
) -> None:
    earlier = [f"old{i}" for i in range(20)]
    with PostgresStore.from_dsn(
        postgres_dsn, schema=pg_schema, table=table, min_size=6, max_size=6, create_schema=True
    ) as store:
        for key in earlier:
            store.execute(save(key, owner="bob", max_owned=100))
        logged_in: list[str] = []
        ended: list[int] = []

        def work(index: int) -> None:
            if index == 0:
                result = store.execute(EndOwned(owner="bob", now=NOW))
                assert isinstance(result, Ended)
                ended.append(result.count)
            elif index == 1:
                # Requests of the earlier sessions keep saving: each save
                # either lands before "end all" (and is ended with its row)
                # or conflicts.
                for key in earlier:
                    revision = 1
                    while store.execute(save(key, b"x", revision, owner="bob")) != Conflict():
                        revision += 1
            else:
                for n in range(10):
                    key = f"new{index}-{n}"
                    result = store.execute(save(key, owner="bob", max_owned=100))
                    assert result == Saved(revision=1)
                    logged_in.append(key)

        run_threads(6, work)
        survivors = listed(store, "bob")
        assert survivors.isdisjoint(earlier)
        assert survivors <= set(logged_in)
        # Every row is accounted for: ended, or created after "end all" ran.
        assert ended[0] + len(survivors) == len(earlier) + len(logged_in)


def test_logins_past_the_cap_and_end_all_never_deadlock(
    postgres_dsn: str, pg_schema: str, table: str
) -> None:
    """Statements that lock several of an owner's rows (end all, a login
    ending the sessions past the cap) lock them in one order, so running at
    once they wait for each other but never deadlock."""
    cap = 3
    with PostgresStore.from_dsn(
        postgres_dsn, schema=pg_schema, table=table, min_size=6, max_size=6, create_schema=True
    ) as store:

        def work(index: int) -> None:
            for n in range(15):
                if index < 2:
                    # Refill the owner far past the cap, without one.
                    for m in range(8):
                        store.execute(
                            save(f"r{index}-{n}-{m}", owner="cy", expires_at=NOW + TTL + m)
                        )
                    store.execute(EndOwned(owner="cy", now=NOW, keep=f"r{index}-{n}-0"))
                else:
                    result = store.execute(
                        save(f"c{index}-{n}", owner="cy", max_owned=cap, expires_at=NOW + TTL + n)
                    )
                    assert result == Saved(revision=1)

        run_threads(6, work)
        survivors = listed(store, "cy")
        assert store.execute(EndOwned(owner="cy", now=NOW)) == Ended(count=len(survivors))
        assert listed(store, "cy") == set()


# -- through the core ---------------------------------------------------------------


def login(owner: str) -> Callable[[Session], None]:
    def handler(session: Session) -> None:
        session.regenerate(owner=owner)
        session["user"] = owner

    return handler


def test_three_browsers_log_in_list_and_end_the_others(store: PostgresStore) -> None:
    assert store.owner_index is True
    protocol = SessionProtocol(
        Settings(keyring=Keyring([SECRET])), storage="server", owner_index=True
    )
    clock = ManualClock()
    browsers = [Browser(protocol, clock, store) for _ in range(3)]
    for browser in browsers:
        browser.request(login("ada"))
        clock.advance(1)

    sessions = satchel.list_sessions(store, protocol, "ada", now=clock())
    assert len(sessions) == 3
    assert len({info.handle for info in sessions}) == 3

    ending = browsers[0].request(lambda session: session.end_other_sessions())
    assert ending.outcome.sessions_ended == 2

    def whoami(session: Session) -> tuple[str | None, Any, str | None]:
        return session.owner, session.get("user"), session.ended_reason

    assert browsers[0].request(whoami).value == ("ada", "ada", None)
    for browser in browsers[1:]:
        assert browser.request(whoami).value == (None, None, "ended")
    remaining = satchel.list_sessions(store, protocol, "ada", now=clock())
    assert len(remaining) == 1
