"""Store round trips per request, counted by the servers themselves.

Real requests go through `satchel.testing.Browser` with server storage and the
synchronous Redis and PostgreSQL stores; the counts come from each server's
own statistics, never from the client:

- Redis (a ``redis-server`` of our own): the slow log, set to log every
  command (threshold 0 µs), lists the commands that arrived over the network;
  commands a Lua script runs are logged under the client ``?:0`` and are not
  round trips. ``INFO commandstats`` counts every command, scripts' included.
- PostgreSQL (a database of our own, dropped afterwards): the store runs each
  statement in autocommit mode, so every round trip that reaches the server
  is one transaction in ``pg_stat_database`` (``xact_commit`` +
  ``xact_rollback``). ``pg_stat_user_tables`` shows the work behind them
  (index scans, rows inserted, updated, deleted). The statistics reach the
  view when a backend goes idle, at most once a second (else up to ten seconds
  later), so each reading first makes the store's backend publish its own.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SECRET, machine, payload, table, verdict, write_json
from _procs import RedisServer, install_cleanup

from satchel import Keyring, SessionProtocol, Settings
from satchel.testing import Browser, ManualClock

ADMIN = "satchel-bench-admin"
SCRIPT_CLIENT = b"?:0"

Request = Callable[[], object]

# What each request does, and how many round trips the issue allows (None: reported only).
SCENARIOS: tuple[tuple[str, int | None], ...] = (
    ("untouched (session never read)", 0),
    ("read only", 1),
    ("changed", 2),
    ("read only, after the touch interval", None),
    ("new session, first write", None),
    ("logout (invalidate)", None),
)


def requests(browser: Browser, clock: ManualClock, settings: Settings) -> dict[str, Request]:
    """The scenarios as callables on one browser whose session already exists."""

    def change() -> object:
        return browser.request(lambda s: s.__setitem__("visits", s.get("visits", 0) + 1))

    def after_touch() -> object:
        clock.advance(settings.touch_interval + 1)
        return browser.request(lambda s: s.get("user_id"))

    def new_session() -> object:
        browser.forget(settings.cookie_name)
        return browser.request(lambda s: s.update(payload()))

    return {
        "untouched (session never read)": browser.request,
        "read only": lambda: browser.request(lambda s: s.get("user_id")),
        "changed": change,
        "read only, after the touch interval": after_touch,
        "new session, first write": new_session,
        "logout (invalidate)": lambda: browser.request(lambda s: s.invalidate()),
    }


def prepare(browser: Browser) -> None:
    """Log in and change once, so connections and script caches are warm."""
    browser.request(lambda s: s.update(payload()))
    for _ in range(6):  # psycopg prepares a statement on its fifth use
        browser.request(lambda s: s.__setitem__("visits", s.get("visits", 0) + 1))
        browser.request(lambda s: s.get("user_id"))


# -- Redis ----------------------------------------------------------------------


def redis_counts(settings: Settings) -> dict[str, Any]:
    try:
        import redis

        from satchel_redis import RedisStore
    except ImportError as error:
        return {"skipped": f"{error.name} not installed"}
    try:
        server = RedisServer()
    except (FileNotFoundError, RuntimeError) as error:
        return {"skipped": str(error)}
    results: dict[str, Any] = {"server": "redis-server of our own", "scenarios": {}}
    try:
        with (
            redis.Redis(port=server.port, client_name=ADMIN) as admin,
            RedisStore.from_url(server.url) as store,
        ):
            admin.config_set("slowlog-log-slower-than", 0)
            admin.config_set("slowlog-max-len", 10_000)
            results["version"] = admin.info("server")["redis_version"]
            clock = ManualClock()
            browser = Browser(SessionProtocol(settings, storage="server"), clock, store)
            prepare(browser)
            for name, request in requests(browser, clock, settings).items():
                admin.slowlog_reset()
                admin.config_resetstat()
                response: Any = request()
                entries = admin.slowlog_get(10_000)
                trips = [
                    entry["command"].split()[0].decode().lower()
                    for entry in reversed(entries)
                    if entry["client_address"] != SCRIPT_CLIENT
                    and entry["client_name"] != ADMIN.encode()
                ]
                commands: Counter[str] = Counter()
                for key, fields in admin.info("commandstats").items():
                    command = key.removeprefix("cmdstat_")
                    if command.split("|")[0] not in ("info", "config", "slowlog"):
                        commands[command] = fields["calls"]
                results["scenarios"][name] = {
                    "round_trips": len(trips),
                    "commands_sent": trips,
                    "commands_run": dict(commands),
                    "store_ops": list(response.ops),
                }
    finally:
        server.close()
    return results


# -- PostgreSQL -------------------------------------------------------------------


_PROBE_TRANSACTIONS = 2
"""What `_probe` adds to the count between two readings: its two statements."""


def _probe(store: Any) -> dict[str, int]:
    """Flush the store backend's statistics now, and read the table's counters.

    A backend publishes its statistics when it goes idle, but at most once a
    second and otherwise up to ten seconds later. ``pg_stat_force_next_flush``
    makes it publish when this statement ends, before the client hears back.
    It runs on the store's one pooled connection, so its backend is the
    store's. Its two statements are counted too: between two probes the
    count grows by the request's round trips plus `_PROBE_TRANSACTIONS`.
    """
    with store.pool.connection() as connection:
        connection.execute("SELECT pg_stat_force_next_flush()", prepare=False)
        row = connection.execute(
            "SELECT coalesce(sum(seq_scan), 0), coalesce(sum(idx_scan), 0), "
            "coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0), "
            "coalesce(sum(n_tup_del), 0) FROM pg_stat_user_tables WHERE schemaname = %s",
            (store.schema,),
            prepare=False,  # never prepared, so it costs the same every time
        ).fetchone()
    assert row is not None
    names = ("seq_scan", "idx_scan", "inserted", "updated", "deleted")
    return dict(zip(names, map(int, row), strict=True))


def _transactions(admin: Any, database: str) -> int:
    row = admin.execute(
        "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
        (database,),
    ).fetchone()
    return int(row[0])


def postgres_counts(settings: Settings, dsn: str) -> dict[str, Any]:
    try:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        from satchel_postgres import PostgresStore
    except ImportError as error:
        return {"skipped": f"{error.name} not installed"}
    database = f"satchel_bench_{os.getpid()}"
    schema = "satchel_bench"
    try:
        admin = psycopg.connect(dsn, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        return {"skipped": f"no PostgreSQL at {dsn} ({type(error).__name__})"}
    results: dict[str, Any] = {"database": "a database of our own", "scenarios": {}}
    try:
        results["version"] = admin.execute("SHOW server_version").fetchone()[0]
        admin.execute(f'CREATE DATABASE "{database}"')
        params = conninfo_to_dict(dsn)
        params["dbname"] = database
        bench_dsn = make_conninfo(**params)
        store = PostgresStore.from_dsn(
            bench_dsn, schema=schema, create_schema=True, min_size=1, max_size=1
        )
        try:
            clock = ManualClock()
            browser = Browser(SessionProtocol(settings, storage="server"), clock, store)
            prepare(browser)
            for name, request in requests(browser, clock, settings).items():
                table_before = _probe(store)
                before = _transactions(admin, database)
                response: Any = request()
                table_after = _probe(store)
                after = _transactions(admin, database)
                results["scenarios"][name] = {
                    "round_trips": after - before - _PROBE_TRANSACTIONS,
                    "table": {k: table_after[k] - table_before[k] for k in table_after},
                    "store_ops": list(response.ops),
                }
        finally:
            store.close()
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    install_cleanup()
    settings = Settings(keyring=Keyring([SECRET]))
    print("\nStore round trips per request, from the servers' own statistics\n")
    redis_result = redis_counts(settings)
    postgres_result = postgres_counts(settings, args.postgres_dsn)
    report(redis_result, postgres_result)
    targets = check(redis_result, postgres_result)
    path = write_json(
        "store_ops",
        {
            "machine": machine(),
            "redis": redis_result,
            "postgres": postgres_result,
            "targets": targets,
        },
    )
    print(f"\nwrote {path}")
    return 0


def report(redis_result: dict[str, Any], postgres_result: dict[str, Any]) -> None:
    rows = []
    for name, allowed in SCENARIOS:
        row: list[Any] = [name, "-" if allowed is None else allowed]
        for result in (redis_result, postgres_result):
            scenario = result.get("scenarios", {}).get(name)
            row.append("-" if scenario is None else scenario["round_trips"])
        redis_scenario = redis_result.get("scenarios", {}).get(name)
        row.append(
            "-" if redis_scenario is None else " ".join(redis_scenario["commands_sent"]) or "(none)"
        )
        postgres_scenario = postgres_result.get("scenarios", {}).get(name)
        row.append(
            "-"
            if postgres_scenario is None
            else ", ".join(f"{k} {v}" for k, v in postgres_scenario["table"].items() if v)
            or "(none)"
        )
        rows.append(row)
    print(
        table(
            [
                "request",
                "target",
                "Redis trips",
                "PostgreSQL trips",
                "Redis commands sent",
                "PostgreSQL table work",
            ],
            rows,
        )
    )
    for label, result in (("Redis", redis_result), ("PostgreSQL", postgres_result)):
        if "skipped" in result:
            print(f"{label}: skipped ({result['skipped']})")


def check(redis_result: dict[str, Any], postgres_result: dict[str, Any]) -> list[dict[str, Any]]:
    print("\nTargets")
    targets = []
    for label, result in (("Redis", redis_result), ("PostgreSQL", postgres_result)):
        if "skipped" in result:
            print(f"  {label}: not measured")
            continue
        for name, allowed in SCENARIOS:
            if allowed is None:
                continue
            trips = result["scenarios"][name]["round_trips"]
            met = trips == allowed
            text = f"{label}, {name}: exactly {allowed} round trip(s)"
            print(f"  {text}: {trips} — {verdict(met)}")
            targets.append({"target": text, "value": trips, "met": met})
    return targets


if __name__ == "__main__":
    raise SystemExit(main())
