"""Scale: a million live sessions in the memory store, and sweeping them.

Measures the memory store's bytes per session beyond the payload, and the
time of ``sweep(now)`` when 1% of the sessions have expired against when
none have, for the memory store, SQLite and (if reachable) PostgreSQL.
Sweep time should follow the expired sessions, not all sessions.
"""

from __future__ import annotations

import argparse
import gc
import os
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, table, verdict, write_json

from satchel import MemoryStore, Save, SQLiteStore
from satchel._seal import store_key

NOW = 1_800_000_000.0
VALUE = os.urandom(250)  # a realistic sealed-record size


def keys(count: int) -> list[str]:
    return [store_key(index.to_bytes(32, "big")) for index in range(count)]


def expires_at(index: int, expired_every: int | None) -> float:
    """Session `index`'s expiry: every `expired_every`-th at NOW - 1, the
    others spread over the half hour after NOW + 1 hour. Every store gets the same."""
    if expired_every is not None and index % expired_every == 0:
        return NOW - 1
    return NOW + 3600 + (index % 1800)


def fill(execute: Callable[[Any], Any], all_keys: list[str], expired_every: int | None) -> None:
    """Create every session; every `expired_every`-th expires at NOW - 1."""
    for index, key in enumerate(all_keys):
        execute(
            Save(
                key=key,
                value=VALUE,
                ttl=3600,
                expires_at=expires_at(index, expired_every),
                expected_revision=None,
                now=NOW - 7200,
            )
        )


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    removed = fn()
    return time.perf_counter() - start, removed


def memory(count: int) -> dict[str, Any]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    # The keys are counted: a store holds one per session. (The list holding
    # them adds 8 bytes a session, also counted, so this slightly overstates.)
    all_keys = keys(count)
    key_bytes = sum(sys.getsizeof(key) for key in all_keys[:1000]) / 1000
    store = MemoryStore()
    fill(store.execute, all_keys, None)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    # The payload is one shared bytes object here, so this is what a session
    # costs beyond its payload: key, record tuple, dict slot, expiry index.
    per_session = (after - before) / count
    none_time, none_removed = timed(lambda: store.sweep(NOW))
    del store
    gc.collect()
    store = MemoryStore()
    fill(store.execute, all_keys, 100)
    some_time, some_removed = timed(lambda: store.sweep(NOW))
    return {
        "sessions": count,
        "bytes_per_session_beyond_payload": per_session,
        "key_string_bytes": key_bytes,
        "sweep_none_expired_seconds": none_time,
        "sweep_none_expired_removed": none_removed,
        "sweep_1pct_expired_seconds": some_time,
        "sweep_1pct_expired_removed": some_removed,
    }


def sqlite(count: int) -> dict[str, Any]:
    all_keys = keys(count)
    results: dict[str, Any] = {"rows": count}
    for label, every in (("none", None), ("1pct", 100)):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "scale.sqlite3"
            store = SQLiteStore(path)
            # Bulk load on a connection of its own: one transaction, not a million.
            with sqlite3.connect(path) as loader:
                loader.executemany(
                    f'INSERT INTO "{store.table}" (key, revision, expires_at, value) '
                    "VALUES (?, 1, ?, ?)",
                    ((key, expires_at(index, every), VALUE) for index, key in enumerate(all_keys)),
                )
            loader.close()
            seconds, removed = timed(lambda store=store: store.sweep(NOW))
            results[f"sweep_{label}_expired_seconds"] = seconds
            results[f"sweep_{label}_expired_removed"] = removed
            store.close()
    return results


def postgres(count: int, dsn: str) -> dict[str, Any] | str:
    try:
        import psycopg

        from satchel_postgres import PostgresStore
    except ImportError as error:
        return f"skipped: {error.name} not installed"
    schema = f"satchel_bench_{os.getpid()}"
    try:
        admin = psycopg.connect(dsn, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        return f"skipped: no PostgreSQL at {dsn} ({type(error).__name__})"
    all_keys = keys(count)
    results: dict[str, Any] = {"rows": count}
    try:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        for label, every in (("none", None), ("1pct", 100)):
            store = PostgresStore.from_dsn(dsn, schema=schema, create_schema=True)
            admin.execute(f'TRUNCATE "{schema}"."satchel_sessions"')
            with admin.cursor().copy(
                f'COPY "{schema}"."satchel_sessions" (key, revision, expires_at, value) FROM STDIN'
            ) as copy:
                for index, key in enumerate(all_keys):
                    copy.write_row((key, 1, expires_at(index, every), VALUE))
            admin.execute(f'ANALYZE "{schema}"."satchel_sessions"')
            seconds, removed = timed(lambda store=store: store.sweep(NOW))
            results[f"sweep_{label}_expired_seconds"] = seconds
            results[f"sweep_{label}_expired_removed"] = removed
            store.close()
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--postgres-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    count = args.sessions

    print(f"\nScale: {count:,} sessions, {len(VALUE)}-byte records\n")
    mem = memory(count)
    lite = sqlite(count)
    pg = postgres(count, args.postgres_dsn)
    rows = [
        [
            "memory",
            f"{mem['sweep_none_expired_seconds'] * 1e3:.2f}",
            f"{mem['sweep_1pct_expired_seconds'] * 1e3:.1f}",
            f"{mem['sweep_1pct_expired_removed']:,}",
        ],
        [
            "SQLite",
            f"{lite['sweep_none_expired_seconds'] * 1e3:.2f}",
            f"{lite['sweep_1pct_expired_seconds'] * 1e3:.1f}",
            f"{lite['sweep_1pct_expired_removed']:,}",
        ],
    ]
    if isinstance(pg, str):
        rows.append(["PostgreSQL", pg, "", ""])
    else:
        rows.append(
            [
                "PostgreSQL",
                f"{pg['sweep_none_expired_seconds'] * 1e3:.2f}",
                f"{pg['sweep_1pct_expired_seconds'] * 1e3:.1f}",
                f"{pg['sweep_1pct_expired_removed']:,}",
            ]
        )
    per_session = mem["bytes_per_session_beyond_payload"]
    print(f"memory store: {per_session:.0f} bytes per session beyond the payload\n")
    print(table(["sweep", "none expired, ms", "1% expired, ms", "removed"], rows))

    overhead_ok = mem["bytes_per_session_beyond_payload"] <= 400
    # Proportional: sweeping nothing must cost a small fraction of sweeping 1%.
    proportional = mem["sweep_none_expired_seconds"] * 10 <= mem["sweep_1pct_expired_seconds"]
    print("\nTargets")
    print(f"  memory store ≤ 400 bytes/session beyond payload: {verdict(overhead_ok)}")
    print(f"  memory sweep proportional to expired sessions: {verdict(proportional)}")
    path = write_json(
        "scale",
        {
            "machine": machine(),
            "memory": mem,
            "sqlite": lite,
            "postgres": pg,
            "targets": {"memory_overhead": overhead_ok, "sweep_proportional": proportional},
        },
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
