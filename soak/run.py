"""``make soak``: the demo server under a bounded loopback load, then under faults.

For each store (Redis, PostgreSQL) and framework (aiohttp, Tornado, WSGI) it
starts the real demo server (``satchel-demo``) as a child process and runs:

1. the soak: simulated users read and write their sessions for a warm-up
   and then ``SOAK_SECONDS`` (default 60) more seconds. Every answer must be
   a 200 (and every ``/counter`` one more than the last); the server's
   resident memory may grow at most 5% from the end of the warm-up to the
   end; once the load stops, the server holds no more store connections
   than the end of the warm-up's or one per user (a pool grows to the
   concurrency it meets), and no more other file descriptors than at the
   end of the warm-up.
2. the faults, under the same load: Redis killed and restarted; the app's
   PostgreSQL backends terminated; PostgreSQL unreachable through a proxy.
   Answers during an outage must all be 503s, none slower than the store's
   timeout plus a margin, and 200 again within seconds of the store coming
   back, from the same server process; afterwards, no leaked connections or
   file descriptors either.

It prints its figures as tables and exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import attrs
from psycopg.conninfo import conninfo_to_dict

from ._demo import DemoServer
from ._faults import FaultFigures, blip, outage
from ._load import Load, statuses
from ._procs import install_cleanup, sockets_to
from ._stores import (
    POSTGRES_TIMEOUT,
    REDIS_TIMEOUT,
    PrivateRedis,
    ProxyProcess,
    drop_schema,
    postgres_connections,
    redis_clients,
    redis_delete_prefix,
    terminate_backends,
)

FRAMEWORKS = ("aiohttp", "tornado", "wsgi", "asgi", "flask")
STORES = ("redis", "postgres")
ADMIN_DSN = os.environ.get("SATCHEL_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")

RSS_GROWTH_LIMIT = 0.05
# Beyond the store's timeout, what an answer during a fault may take: the
# half second the PostgreSQL driver gives a silent server, and scheduling on
# a busy machine.
ANSWER_MARGIN = 1.5
RECOVERY_LIMIT = 5.0
# Idle time after the load stops, before counting connections and descriptors.
SETTLE = 1.5


@attrs.define
class Usage:
    """The server's resources at one moment."""

    rss_kib: int
    fds: int
    connections: int
    store_sockets: int

    @property
    def other_fds(self) -> int:
        """Descriptors that are not sockets to the store."""
        return self.fds - self.store_sockets


@attrs.define
class SoakFigures:
    """One run: a framework with a store."""

    framework: str
    store: str
    users: int
    seconds: float = 0.0
    requests: int = 0
    statuses: Counter[int] = attrs.Factory(Counter)
    wrong_counters: int = 0
    sessions: int = 0
    p99_ms: float = 0.0
    warm: Usage | None = None
    end: Usage | None = None
    after_load: Usage | None = None
    after_faults: Usage | None = None
    faults: list[FaultFigures] = attrs.Factory(list)
    problems: list[str] = attrs.Factory(list)

    @property
    def errors(self) -> int:
        """Answers other than 200, and /counter answers out of sequence."""
        return sum(n for status, n in self.statuses.items() if status != 200) + self.wrong_counters

    @property
    def rss_growth(self) -> float:
        """Growth of resident memory from the end of warm-up to the end of the load."""
        assert self.warm is not None
        assert self.end is not None
        return (self.end.rss_kib - self.warm.rss_kib) / self.warm.rss_kib

    def check(self) -> None:
        """Add the soak's own problems (the faults carry theirs)."""
        name = f"{self.framework}/{self.store}"
        if self.requests == 0:
            self.problems.append(f"{name}: no requests were answered")
        if self.errors:
            self.problems.append(
                f"{name}: {self.errors} errors (statuses {dict(self.statuses)}, "
                f"{self.wrong_counters} counters out of sequence)"
            )
        if self.warm is None or self.end is None or self.after_load is None:
            return
        if self.rss_growth > RSS_GROWTH_LIMIT:
            self.problems.append(
                f"{name}: resident memory grew {self.rss_growth:.1%} after warm-up "
                f"(limit {RSS_GROWTH_LIMIT:.0%})"
            )
        # A pool grows to the concurrency it meets, which may peak after the
        # warm-up: more connections than users could ever need is a leak, and
        # so is any descriptor that is not one of those connections.
        ceiling = max(self.warm.connections, self.users)
        for label, usage in (("the load", self.after_load), ("the faults", self.after_faults)):
            if usage is None:
                continue
            held = max(usage.connections, usage.store_sockets)
            if held > ceiling:
                self.problems.append(
                    f"{name}: {held} store connections after {label}, more than "
                    f"{ceiling} (the end of warm-up's, or one per user)"
                )
            if usage.other_fds > self.warm.other_fds:
                self.problems.append(
                    f"{name}: {usage.other_fds} file descriptors besides store sockets "
                    f"after {label}, {self.warm.other_fds} at the end of warm-up"
                )
        for fault in self.faults:
            self.problems.extend(f"{name}: {problem}" for problem in fault.problems())


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class _Target:
    """The demo server and the store behind it, with the store's probes."""

    def __init__(self, framework: str, store: str, folder: Path) -> None:
        tag = f"{os.getpid()}x{uuid.uuid4().hex[:8]}"
        self.name = f"satchel-soak-{tag}"
        self.store = store
        self.redis: PrivateRedis | None = None
        self.proxy: ProxyProcess | None = None
        self.proxy_port = 0
        self.prefix = f"satchel-soak:{tag}:"
        self.schema = f"satchel_soak_{tag}"
        if store == "redis":
            self.redis = PrivateRedis()
            self.redis.start()
            options = ["--redis-url", self.redis.url_for(self.name), "--redis-prefix", self.prefix]
        else:
            upstream = int(conninfo_to_dict(ADMIN_DSN).get("port") or 5432)
            self.proxy = ProxyProcess(upstream)
            self.proxy_port = self.proxy.port
            dsn = self.proxy.dsn(self.name)
            options = ["--postgres-dsn", dsn, "--postgres-schema", self.schema]
        self.demo = DemoServer(framework, store, folder / f"{framework}-{store}.log", options)

    def connections(self) -> int:
        if self.redis is not None:
            with self.redis.client() as client:
                return redis_clients(client, self.name)
        return postgres_connections(ADMIN_DSN, self.name)

    def usage(self) -> Usage:
        port = self.redis.port if self.redis is not None else self.proxy_port
        return Usage(
            self.demo.rss_kib(),
            self.demo.fd_count(),
            self.connections(),
            sockets_to(self.demo.pid, port),
        )

    def close(self) -> None:
        self.demo.stop()
        if self.redis is not None:
            with contextlib.suppress(Exception), self.redis.client() as client:
                redis_delete_prefix(client, self.prefix)
            self.redis.close()
        if self.proxy is not None:
            self.proxy.close()
            drop_schema(ADMIN_DSN, self.schema)


async def _faults(target: _Target, load: Load, figures: SoakFigures) -> None:
    if target.redis is not None:
        redis = target.redis
        figures.faults.append(
            await outage(
                load,
                "Redis killed, restarted",
                cut=redis.kill,
                restore=redis.restart,
                seconds=4.0,
                limit=REDIS_TIMEOUT + ANSWER_MARGIN,
                recovery_limit=RECOVERY_LIMIT,
            )
        )
    if target.proxy is not None:
        proxy = target.proxy

        def terminate() -> str:
            return f"{terminate_backends(ADMIN_DSN, target.name)} backends"

        figures.faults.append(
            await blip(
                load,
                "PG backends terminated",
                fault=terminate,
                limit=POSTGRES_TIMEOUT + ANSWER_MARGIN,
                recovery_limit=RECOVERY_LIMIT,
            )
        )
        figures.faults.append(
            await outage(
                load,
                "PG unreachable (proxy)",
                cut=proxy.stop,
                restore=proxy.start,
                # Longer than the timeout, so answers start and end inside it.
                seconds=POSTGRES_TIMEOUT + 3.0,
                limit=POSTGRES_TIMEOUT + ANSWER_MARGIN,
                recovery_limit=RECOVERY_LIMIT,
            )
        )


async def soak_one(
    framework: str, store: str, seconds: float, warmup: float, users: int, folder: Path
) -> SoakFigures:
    """Soak and fault one framework with one store; the figures and problems found."""
    figures = SoakFigures(framework, store, users)
    target = _Target(framework, store, folder)
    try:
        target.demo.start()
        pid = target.demo.pid
        load = Load(target.demo.url, users=users, seed=1)
        task = asyncio.create_task(load.run(warmup + seconds + 60))
        try:
            await asyncio.sleep(warmup)
            figures.warm = await asyncio.to_thread(target.usage)
            start = time.monotonic()
            # The load ends early only if it breaks; that shows in its answers.
            await asyncio.wait({task}, timeout=seconds)
            figures.end = await asyncio.to_thread(target.usage)
        finally:
            load.stop()
            await task
        figures.seconds = time.monotonic() - start
        figures.requests = len(load.answers)
        figures.statuses = statuses(load.answers)
        figures.wrong_counters = load.wrong_counters
        figures.sessions = load.sessions_started
        figures.p99_ms = 1000 * _percentile([a.seconds for a in load.answers], 0.99)
        if figures.statuses[200] != figures.requests:
            odd = [a for a in load.answers if a.status != 200][:3]
            figures.problems.append(f"{framework}/{store}: first odd answers: {odd}")
            figures.problems.append(target.demo.log_tail(20))
        await asyncio.sleep(SETTLE)
        figures.after_load = await asyncio.to_thread(target.usage)

        faulted = Load(target.demo.url, users=users, seed=2)
        task = asyncio.create_task(faulted.run(120))
        try:
            await asyncio.sleep(2.0)
            await _faults(target, faulted, figures)
        finally:
            faulted.stop()
            await task
        if not target.demo.running() or target.demo.pid != pid:
            figures.problems.append(f"{framework}/{store}: the server did not survive the faults")
        await asyncio.sleep(SETTLE)
        figures.after_faults = await asyncio.to_thread(target.usage)
    finally:
        target.close()
    figures.check()
    return figures


def _statuses(counts: Counter[int]) -> str:
    return " ".join(f"{status or 'none'}:{n}" for status, n in sorted(counts.items())) or "-"


def _table(header: list[str], rows: list[list[str]]) -> Iterator[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    yield "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    yield "| " + " | ".join("-" * w for w in widths) + " |"
    for row in rows:
        yield "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def report(results: list[SoakFigures]) -> list[str]:
    """The figures as two Markdown tables."""
    soak_rows = []
    for r in results:
        warm, end, after, faults = r.warm, r.end, r.after_load, r.after_faults
        if warm is None or end is None or after is None:
            soak_rows.append([r.framework, r.store, *(["-"] * 9), "FAIL"])
            continue
        soak_rows.append(
            [
                r.framework,
                r.store,
                str(r.requests),
                f"{r.requests / r.seconds:.0f}" if r.seconds else "-",
                str(r.errors),
                str(r.sessions),
                f"{r.p99_ms:.1f}",
                f"{_mib(warm.rss_kib)} → {_mib(end.rss_kib)}",
                f"{r.rss_growth:+.1%}",
                f"{warm.connections} / {after.connections} / "
                + (str(faults.connections) if faults else "-"),
                f"{warm.fds} / {after.fds} / " + (str(faults.fds) if faults else "-"),
                "ok" if not r.problems else "FAIL",
            ]
        )
    lines = [
        "Soak (connections and fds: end of warm-up / after the load / after the faults)",
        "",
        *_table(
            [
                "framework",
                "store",
                "requests",
                "req/s",
                "errors",
                "sessions",
                "p99 ms",
                "RSS MiB warm → end",
                "growth",
                "store conns",
                "fds",
                "result",
            ],
            soak_rows,
        ),
        "",
        "Faults (answers by status: inside the outage / from the fault to recovery)",
        "",
    ]
    fault_rows = [
        [
            r.framework,
            r.store,
            f.name + (f" ({f.detail})" if f.detail else ""),
            f"{f.outage:.1f}",
            _statuses(f.during)
            + (f" (cookieless reads: {_statuses(f.storeless)})" if f.storeless else ""),
            _statuses(f.window),
            f"{f.longest:.2f} (≤ {f.limit:.1f})",
            "never" if f.recovery is None else f"{f.recovery:.2f}",
            "ok" if not f.problems() else "FAIL",
        ]
        for r in results
        for f in r.faults
    ]
    lines += _table(
        [
            "framework",
            "store",
            "fault",
            "outage s",
            "inside the outage",
            "fault to recovery",
            "longest answer s",
            "200 again after s",
            "result",
        ],
        fault_rows,
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the soak; 0 if every check passed."""
    parser = argparse.ArgumentParser(prog="python -m soak.run", description=__doc__)
    parser.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get("SOAK_SECONDS", "60")),
        help="seconds of load after the warm-up, per run (default: $SOAK_SECONDS, else 60)",
    )
    parser.add_argument("--users", type=int, default=int(os.environ.get("SOAK_USERS", "32")))
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--stores", default=",".join(STORES))
    args = parser.parse_args(argv)
    frameworks = [f for f in args.frameworks.split(",") if f]
    stores = [s for s in args.stores.split(",") if s]
    if not set(frameworks) <= set(FRAMEWORKS) or not set(stores) <= set(STORES):
        parser.error(f"frameworks are {FRAMEWORKS}, stores are {STORES}")
    seconds = max(1.0, args.seconds)
    warmup = min(10.0, max(3.0, seconds / 6))
    install_cleanup()
    results: list[SoakFigures] = []
    with tempfile.TemporaryDirectory(prefix="satchel-soak-") as folder:
        for store in stores:
            for framework in frameworks:
                print(
                    f"soak: {framework} + {store}: {warmup:.0f} s warm-up, {seconds:.0f} s load, "
                    f"{args.users} users, then faults",
                    flush=True,
                )
                figures = asyncio.run(
                    soak_one(framework, store, seconds, warmup, args.users, Path(folder))
                )
                for problem in figures.problems:
                    print(f"  {problem}", flush=True)
                results.append(figures)
    print()
    print("\n".join(report(results)))
    problems = [p for r in results for p in r.problems]
    print()
    print("soak: all checks passed" if not problems else f"soak: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
