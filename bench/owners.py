"""Sessions by owner: what a login with an owner, "end all" and a list cost.

For each store that keeps an owner index (memory, SQLite, and Redis on a
``redis-server`` of the benchmark's own, sync and asyncio), in process,
through `satchel.testing.Browser` with server storage and an injected clock:

- a login (``regenerate`` and the realistic payload) with an owner, against
  the same login without one, per request;
- ``end_sessions`` and ``list_sessions`` for an owner with 10 and with 1,000
  live sessions (the cap raised to fit them), per call;
- the store operations of an untouched and of a read-only request of a
  session with an owner, against one without: the owner must cost nothing
  extra there (each operation is one round trip for these stores).

The asyncio Redis store is driven through one `asyncio.Runner`, an
``Runner.run`` per operation, so its figures carry that overhead; compare
its ratios, not its microseconds. Stores without an owner index are listed
as such.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SECRET, machine, median, payload, table, verdict, write_json
from _procs import RedisServer, install_cleanup

from satchel import (
    Keyring,
    MemoryStore,
    SessionProtocol,
    Settings,
    SQLiteStore,
    end_sessions,
    list_sessions,
)
from satchel.testing import Browser, ManualClock

SIZES = (10, 1000)
POSTGRES_DSN = os.environ.get(
    "SATCHEL_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


class Counting:
    """Counts the operations a store is asked to run."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.ops = 0

    def execute(self, op: Any) -> Any:
        self.ops += 1
        return self.store.execute(op)


class OnLoop:
    """An asyncio store, for the synchronous `Browser`: each op on one runner."""

    owner_index = True

    def __init__(self, store: Any, runner: asyncio.Runner) -> None:
        self.store = store
        self.runner = runner

    def execute(self, op: Any) -> Any:
        return self.runner.run(self.store.execute(op))


@contextmanager
def stores(folder: Path) -> Iterator[dict[str, Any]]:
    with ExitStack() as stack:
        sqlite = SQLiteStore(folder / "owners.db")
        stack.callback(sqlite.close)
        available: dict[str, Any] = {"memory": MemoryStore(), "SQLite": sqlite}
        try:
            from satchel_redis import AsyncRedisStore, RedisStore

            server = stack.enter_context(RedisServer())
        except (ImportError, FileNotFoundError, RuntimeError) as error:
            print(f"Redis not measured: {error}")
        else:
            available["Redis"] = stack.enter_context(RedisStore.from_url(server.url))
            runner = stack.enter_context(asyncio.Runner())
            async_store = AsyncRedisStore.from_url(server.url)
            stack.callback(lambda: runner.run(async_store.aclose()))
            available["Redis, asyncio"] = OnLoop(async_store, runner)
        try:
            import psycopg

            from satchel_postgres import PostgresStore

            schema = f"satchel_bench_owners_{os.getpid()}"
            store = PostgresStore.from_dsn(
                POSTGRES_DSN, schema=schema, create_schema=True, min_size=1, max_size=1
            )
        except Exception as error:  # no driver, no server: reported, not measured
            print(f"PostgreSQL not measured: {type(error).__name__}: {error}")
        else:

            def drop() -> None:
                store.close()
                with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
                    admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

            stack.callback(drop)
            available["PostgreSQL"] = store
        yield available


def per_call(fn: Callable[[], object], rounds: int, number: int) -> float:
    """The median over `rounds` of the seconds per call of `number` calls."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return median(samples)


def login(owner: str | None) -> Callable[[Any], None]:
    def handler(session: Any) -> None:
        if owner is None:
            session.regenerate()
        else:
            session.regenerate(owner=owner)
        session.update(payload())

    return handler


def measure_store(name: str, store: Any, rounds: int, number: int) -> dict[str, Any]:
    settings = Settings(keyring=Keyring([SECRET]), max_sessions_per_owner=max(SIZES) + 10)
    protocol = SessionProtocol(settings, storage="server", owner_index=True)
    clock = ManualClock()
    result: dict[str, Any] = {"store": name}

    counter = iter(range(10**9))

    def fresh_login(owned: bool) -> Callable[[], object]:
        def run() -> object:
            owner = f"user-{next(counter)}" if owned else None
            return Browser(protocol, clock, store).request(login(owner))

        return run

    # Login: many owners, so no owner's cap comes into play; the two
    # variants alternate round by round, after a warm-up of each.
    variants = {"login_us": fresh_login(False), "login_owner_us": fresh_login(True)}
    samples: dict[str, list[float]] = {key: [] for key in variants}
    for fn in variants.values():
        per_call(fn, 1, number)
    for _ in range(rounds):
        for key, fn in variants.items():
            samples[key].append(per_call(fn, 1, number))
    for key, values in samples.items():
        result[key] = median(values) * 1e6

    # End all and list, for an owner with N live sessions.
    for size in SIZES:
        owner = f"owner-of-{size}"
        for _ in range(size):
            Browser(protocol, clock, store).request(login(owner))
        result[f"list_{size}_ms"] = (
            per_call(lambda owner=owner: list_sessions(store, protocol, owner, now=clock()), 3, 3)
            * 1e3
        )
        start = time.perf_counter()
        ended = end_sessions(store, protocol, owner, now=clock())
        result[f"end_{size}_ms"] = (time.perf_counter() - start) * 1e3
        assert ended == size, (ended, size)

    # Round trips of an untouched and a read-only request.
    counting = Counting(store)
    for owner in (None, "user-counted"):
        browser = Browser(protocol, clock, counting)  # type: ignore[arg-type]
        browser.request(login(owner))
        label = "owner" if owner else "plain"
        counting.ops = 0
        browser.request()
        result[f"untouched_ops_{label}"] = counting.ops
        counting.ops = 0
        browser.request(lambda s: s.get("user_id"))
        result[f"read_ops_{label}"] = counting.ops
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--number", type=int, default=300, help="logins per round")
    args = parser.parse_args(argv)
    install_cleanup()
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="satchel-bench-owners-") as folder,
        stores(Path(folder)) as available,
    ):
        for name, store in available.items():
            rows.append(measure_store(name, store, args.rounds, args.number))
    print("\nSessions by owner, in process (median of rounds)\n")
    headers = [
        "store",
        "login µs",
        "login with owner µs",
        "ratio",
        "list 10 ms",
        "end 10 ms",
        "list 1,000 ms",
        "end 1,000 ms",
    ]
    print(
        table(
            headers,
            [
                [
                    row["store"],
                    f"{row['login_us']:.1f}",
                    f"{row['login_owner_us']:.1f}",
                    f"{row['login_owner_us'] / row['login_us']:.2f}",
                    f"{row['list_10_ms']:.2f}",
                    f"{row['end_10_ms']:.2f}",
                    f"{row['list_1000_ms']:.1f}",
                    f"{row['end_1000_ms']:.1f}",
                ]
                for row in rows
            ],
        )
    )
    print("\nStore operations (one round trip each) of a request, without and with an owner\n")
    print(
        table(
            ["store", "untouched", "untouched, owner", "read only", "read only, owner"],
            [
                [
                    row["store"],
                    row["untouched_ops_plain"],
                    row["untouched_ops_owner"],
                    row["read_ops_plain"],
                    row["read_ops_owner"],
                ]
                for row in rows
            ],
        )
    )
    targets = []
    for row in rows:
        for kind in ("untouched", "read"):
            extra = row[f"{kind}_ops_owner"] - row[f"{kind}_ops_plain"]
            targets.append(
                {
                    "target": f"{row['store']}: extra round trips of "
                    f"{'an untouched' if kind == 'untouched' else 'a read-only'} request "
                    "with an owner: 0",
                    "measured": extra,
                    "met": extra == 0,
                }
            )
    print("\nTargets")
    for target in targets:
        print(f"  {target['target']}: {target['measured']} ({verdict(target['met'])})")
    path = write_json("owners", {"machine": machine(), "rows": rows, "targets": targets})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
