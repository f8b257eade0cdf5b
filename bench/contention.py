"""Contention: many requests of one session at once, over real HTTP.

For each framework, store and number of server processes, the real demo
server (``satchel-demo``, default session settings) is started once; with two
processes they share the store (one SQLite file, one Redis key prefix, one
PostgreSQL schema) and the requests alternate between them. For each N, one
browser logs in (``GET /login/ada``) and then sends N requests of that one
session at once, each on a connection of its own:

- different keys: ``GET /put/k{i}/v{i}``: every request must answer 200 and
  every key must be there afterwards (``GET /get``);
- the same key: ``GET /put/same/v{i}``: every request must answer 200 and the
  key must hold one of the values written (the last writer wins).

The table shows, per cell, the requests answered 200 and the writes kept,
both out of N, and every status seen. The exit code is 1 if any cell failed.
Servers, the SQLite file, the Redis keys and the PostgreSQL schema are
removed at the end, also on an error, Ctrl-C or SIGTERM.

Run: ``.venv/bin/python bench/contention.py [--frameworks aiohttp,tornado]
[--stores sqlite,redis] [--n 8,32,64] [--processes 1,2] [--markdown]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

# The bench helpers, and the repository root for the launcher the tests share.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import markdown_table, table
from _procs import RedisServer, install_cleanup, spawn, stop

from tests.concurrency._servers import (
    FRAMEWORKS,
    SHARED_STORES,
    Deployment,
    Round,
    run_round,
    unique_name,
)

STORES = ("memory", "sqlite", "cookie", "redis", "postgres")
DEFAULT_STORES = ("memory", "sqlite", "redis", "postgres")
HEADERS = [
    "framework",
    "store",
    "processes",
    "N",
    "different keys: 200 / N",
    "keys kept / N",
    "same key: 200 / N",
    "last value kept",
    "statuses seen",
    "verdict",
]


def _names(text: str, allowed: Sequence[str]) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)}; got {text!r}")
    return names


def _numbers(text: str, smallest: int, largest: int | None = None) -> list[int]:
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a comma-separated list of numbers, got {text!r}"
        ) from None
    if not numbers or any(n < smallest or (largest is not None and n > largest) for n in numbers):
        bound = f"from {smallest} to {largest}" if largest is not None else f"from {smallest} up"
        raise argparse.ArgumentTypeError(f"numbers {bound}, got {text!r}")
    return numbers


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--frameworks",
        type=lambda text: _names(text, FRAMEWORKS),
        default=list(FRAMEWORKS),
        help="comma-separated; default: all",
    )
    parser.add_argument(
        "--stores",
        type=lambda text: _names(text, STORES),
        default=list(DEFAULT_STORES),
        help=f"comma-separated, from {', '.join(STORES)}; default: all but cookie",
    )
    parser.add_argument(
        "--n", type=lambda text: _numbers(text, 1), default=[8, 32, 64], help="default 8,32,64"
    )
    parser.add_argument(
        "--processes",
        type=lambda text: _numbers(text, 1, 2),
        default=[1, 2],
        help="1, 2 or 1,2 (default); two only for stores they can share",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("SATCHEL_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="default $SATCHEL_REDIS_URL or redis://127.0.0.1:6379/0; when nothing "
        "answers there, a redis-server of the benchmark's own is started",
    )
    parser.add_argument(
        "--postgres-dsn",
        default=os.environ.get(
            "SATCHEL_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="default $SATCHEL_POSTGRES_DSN or postgresql://postgres@127.0.0.1:5432/postgres",
    )
    parser.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    return parser


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1.0
        ):
            return True
    except OSError:
        return False


def _cell(round_: Round) -> str:
    return f"{round_.answered_200}/{round_.n}"


def _measure(
    deployment: Deployment, framework: str, store: str, processes: int, sizes: list[int]
) -> tuple[list[list[str]], bool]:
    rows: list[list[str]] = []
    failed = False
    for n in sizes:
        different = run_round(deployment.urls, n)
        same = run_round(deployment.urls, n, same_key=True)
        # Cookie storage keeps the session in the browser: each answer carries
        # the whole session, so concurrent writes of different keys cannot all
        # survive there, whatever the server does.
        cookie = store == "cookie"
        ok = (
            different.answered_200 == n
            and same.ok
            and (different.ok or (cookie and different.answered_200 == n))
        )
        failed = failed or not ok
        statuses = different.statuses + same.statuses
        rows.append(
            [
                framework,
                store,
                str(processes),
                str(n),
                _cell(different),
                f"{different.kept}/{n}" + (" (cookie)" if cookie else ""),
                _cell(same),
                "yes" if same.kept else "no",
                ", ".join(f"{s} x{c}" for s, c in sorted(statuses.items())),
                "ok" if ok else "FAILED",
            ]
        )
        print(" | ".join(rows[-1]), flush=True)
    return rows, failed


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    install_cleanup()
    run = unique_name()
    redis_url: str = args.redis_url
    own_redis: RedisServer | None = None
    skipped: dict[str, str] = {}
    if "redis" in args.stores and not _answers(redis_url, 6379):
        try:
            own_redis = RedisServer()
            redis_url = own_redis.url
        except (FileNotFoundError, RuntimeError) as error:
            skipped["redis"] = f"no Redis at {redis_url} and none could be started ({error})"
    if "postgres" in args.stores and not _answers(args.postgres_dsn, 5432):
        skipped["postgres"] = f"no PostgreSQL server answers for {args.postgres_dsn}"
    for store, reason in skipped.items():
        print(f"skipped {store}: {reason}", flush=True)

    rows: list[list[str]] = []
    failed = False
    started = time.monotonic()
    try:
        for processes in args.processes:
            for framework in args.frameworks:
                for store in args.stores:
                    if store in skipped or (processes > 1 and store not in SHARED_STORES):
                        continue
                    name = f"{run}_{framework}_{processes}"
                    with Deployment(
                        framework,
                        store,
                        processes,
                        name=name,
                        redis_url=redis_url,
                        postgres_dsn=args.postgres_dsn,
                        spawn=spawn,
                        stop=stop,
                    ) as deployment:
                        cell_rows, cell_failed = _measure(
                            deployment, framework, store, processes, args.n
                        )
                    rows += cell_rows
                    failed = failed or cell_failed
    finally:
        if own_redis is not None:
            own_redis.close()

    print()
    print((markdown_table if args.markdown else table)(HEADERS, rows))
    failures = sum(1 for row in rows if row[-1] != "ok")
    print(
        f"\n{len(rows)} cells, {failures} failed, {len(skipped)} stores skipped, "
        f"{time.monotonic() - started:.0f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
