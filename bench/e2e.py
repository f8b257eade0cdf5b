"""End to end over loopback: satchel's adapters against the peers, per request.

One server process per variant (``bench/e2e_server.py``), all on one CPU; the
load generator (wrk, or ``bench/loadgen.py`` without it) in a separate process
on another CPU. Before each run, every connection logs in to get a session
cookie of its own and then sends that fixed cookie on every request, one
request at a time (a session's requests do not overlap, as from a browser).
Each run is bounded in time, and the variants are interleaved round by round.

Measured per run: requests per second, and the server process's CPU time
(user + system, from psutil) divided by the requests completed, which is
steadier than requests per second. Reported: the median over rounds.
"""

from __future__ import annotations

import argparse
import importlib.util
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    OTHER_COOKIES,
    RESULTS,
    machine,
    median,
    table,
    verdict,
    write_json,
)
from _procs import (
    BENCH,
    HOST,
    RedisServer,
    cpu_plan,
    free_port,
    http_get,
    install_cleanup,
    python,
    spawn,
    stop,
    wait_for_port,
)
from e2e_server import LABELS, REQUIRES, VARIANTS
from loadgen import run_load, tool

BARE = {
    "aiohttp": "aiohttp-bare",
    "tornado": "tornado-bare",
    "wsgi": "wsgi-bare",
    "asgi": "asgi-bare",
    "litestar": "litestar-bare",
    "flask": "flask-bare",
}
# The physical floor of a Redis-backed session: its two round trips on a
# plain socket, in an aiohttp handler (see e2e_server.floor_app).
FLOOR = "aiohttp-floor-redis"
# The floor of a cookie session under Starlette: one more ASGI layer and a
# constant cookie of satchel's size, no parsing or sealing (e2e_server.cookie_floor_app).
COOKIE_FLOOR = "asgi-floor-cookie"
# (satchel's variant, the peer's, the peer's name, the limit on the ratio of
# their session CPU, whether the ratio must be strictly below the limit).
TARGETS: tuple[tuple[str, str, str, float, bool], ...] = (
    ("aiohttp-satchel-cookie", "aiohttp-session-cookie", "aiohttp-session, cookie", 1 / 3, False),
    ("aiohttp-satchel-redis", "aiohttp-session-redis", "aiohttp-session, Redis", 0.7, False),
    ("aiohttp-satchel-redis", FLOOR, "the floor (two round trips, plain socket)", 1.5, False),
    (
        "asgi-satchel-cookie",
        "asgi-starlette-cookie",
        "Starlette SessionMiddleware, cookie",
        1 / 2,
        False,
    ),
    ("asgi-satchel-cookie", "asgi-starsessions-cookie", "starsessions, cookie", 1 / 2, False),
    ("asgi-satchel-redis", "asgi-starsessions-redis", "starsessions, Redis", 1.0, True),
    (
        "litestar-satchel-cookie",
        "litestar-own-cookie",
        "Litestar client-side session, cookie",
        1 / 2,
        False,
    ),
    (
        "litestar-satchel-redis",
        "litestar-own-redis",
        "Litestar server-side session, Redis",
        1.0,
        True,
    ),
    ("flask-satchel-cookie", "flask-own-cookie", "Flask's own cookie session", 1 / 2, False),
    ("flask-satchel-redis", "flask-session-redis", "Flask-Session, Redis", 1.0, True),
    ("wsgi-satchel-redis", "flask-session-redis", "Flask-Session, Redis", 1.0, True),
)
LIMIT_TEXT = {1 / 3: "≤ 1/3", 1 / 2: "≤ 1/2", 0.7: "≤ 0.7", 1.0: "< 1", 1.5: "≤ 1.5"}
# What a bare handler is sent instead of a session cookie: a value of about
# the same size, so every variant reads requests of about the same length.
BARE_COOKIE = f"session={secrets.token_urlsafe(300)}; {OTHER_COOKIES}"


def bare_of(variant: str) -> str:
    return BARE[variant.split("-", 1)[0]]


class Server:
    """One variant's server process."""

    def __init__(self, variant: str, cpu: int | None, redis_url: str | None, log: Path) -> None:
        self.variant = variant
        self.port = free_port()
        self.log = log
        command = [python(), str(BENCH / "e2e_server.py"), variant, "--port", str(self.port)]
        if redis_url is not None:
            command += ["--redis-url", redis_url]
        self._sink = log.open("wb")
        self.process = spawn(command, cpu=cpu, stdout=self._sink, stderr=self._sink)
        try:
            wait_for_port(self.port, self.process)
        except RuntimeError as error:
            raise RuntimeError(f"{variant}: {error}\n{self.tail()}") from None
        self.ps = psutil.Process(self.process.pid)

    def tail(self) -> str:
        self._sink.flush()
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def cookies(self, count: int) -> list[str]:
        """`count` Cookie headers, each carrying a freshly logged-in session."""
        if self.variant.endswith("bare"):
            return [BARE_COOKIE] * count
        headers = []
        for _ in range(count):
            status, set_cookies, body = http_get(self.url("/login"))
            if status != 200 or not set_cookies:
                raise RuntimeError(f"{self.variant}: /login answered {status} {body[:200]!r}")
            pairs = "; ".join(header.split(";", 1)[0] for header in set_cookies)
            headers.append(f"{pairs}; {OTHER_COOKIES}")
        # The cookie must be accepted: the handler reads the logged-in session.
        status, set_cookies, body = http_get(self.url("/"), {"Cookie": headers[0]})
        if status != 200 or not body.startswith(b"user 12345"):
            raise RuntimeError(f"{self.variant}: the session cookie was not accepted: {body!r}")
        # And the change must be saved: a new cookie, or the stored count moves on.
        _, _, again = http_get(self.url("/"), {"Cookie": headers[0]})
        if not set_cookies and again == body:
            raise RuntimeError(f"{self.variant}: the change was not saved: {body!r}")
        return headers

    def cpu_seconds(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def close(self) -> None:
        stop(self.process)
        self._sink.close()


def measure(
    server: Server, connections: int, seconds: float, cpu: int | None, generator: str
) -> dict[str, Any]:
    cookies = server.cookies(connections)
    before = server.cpu_seconds()
    result = run_load(server.port, cookies, seconds, cpu=cpu, generator=generator)
    cpu_used = server.cpu_seconds() - before
    requests = max(1, int(result["requests"]))
    errors = sum(
        int(result.get(key, 0))
        for key in ("connect_errors", "read_errors", "write_errors", "non_2xx", "timeouts")
    )
    return {
        "requests": requests,
        "requests_per_second": requests / float(result["duration_s"]),
        "cpu_seconds_per_request": cpu_used / requests,
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=6.0, help="per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds, per variant, once")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--load-generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--chart", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    install_cleanup()
    generator = tool() if args.load_generator == "auto" else args.load_generator
    if generator == "python" and args.load_generator == "auto":
        print("wrk is not installed: load comes from bench/loadgen.py (apt-get install wrk)")
    server_cpu, load_cpu = cpu_plan()

    variants = list(args.variants)
    # Each variant is compared with its framework's bare handler.
    for variant in list(variants):
        if bare_of(variant) not in variants:
            variants.insert(0, bare_of(variant))
    variants = [v for v in VARIANTS if v in variants]
    skipped: dict[str, str] = {}
    # A peer that is not installed is reported as skipped, never replaced.
    for variant in variants:
        missing = [dist for module, dist in REQUIRES[variant] if not installed(module)]
        if missing:
            skipped[variant] = f"not installed: {', '.join(missing)}"
    variants = [v for v in variants if v not in skipped]
    redis: RedisServer | None = None
    if any(v.endswith("redis") for v in variants):
        try:
            redis = RedisServer(cpu=load_cpu)
        except (FileNotFoundError, RuntimeError) as error:
            for v in variants:
                if v.endswith("redis"):
                    skipped[v] = str(error)
            variants = [v for v in variants if not v.endswith("redis")]
    # One benchmark Redis server; each variant gets a database of its own, so
    # no two variants share a key space (and nothing touches port 6379).
    redis_databases = {v: n for n, v in enumerate(v for v in VARIANTS if v.endswith("redis"))}

    print(
        f"\nEnd to end: {len(variants)} servers, {args.connections} connections, "
        f"{args.seconds:g} s per run, {args.rounds} rounds, load by {generator}; "
        f"server CPU {server_cpu}, load CPU {load_cpu}\n",
        flush=True,
    )
    samples: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    servers: dict[str, Server] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="satchel-bench-e2e-") as folder:
        try:
            for variant in list(variants):
                redis_url = None
                if redis is not None and variant.endswith("redis"):
                    redis_url = f"redis://{HOST}:{redis.port}/{redis_databases[variant]}"
                server = None
                try:
                    server = Server(variant, server_cpu, redis_url, Path(folder) / f"{variant}.log")
                    server.cookies(1)  # it must log in and accept its cookie
                except RuntimeError as error:
                    if server is not None:
                        server.close()
                    # A peer that cannot run here is reported, not replaced.
                    print(f"{LABELS[variant]}: could not be run: {error}", flush=True)
                    skipped[variant] = f"could not be run: {str(error).splitlines()[0]}"
                    variants.remove(variant)
                    samples.pop(variant)
                    continue
                servers[variant] = server
            if args.warmup > 0:
                for variant in variants:
                    measure(servers[variant], args.connections, args.warmup, load_cpu, generator)
            for round_number in range(1, args.rounds + 1):
                for variant in variants:
                    sample = measure(
                        servers[variant], args.connections, args.seconds, load_cpu, generator
                    )
                    samples[variant].append(sample)
                print(f"round {round_number}/{args.rounds} done", flush=True)
        except BaseException:
            for server in servers.values():
                if server.process.poll() is not None:
                    print(f"--- {server.variant} exited; its log:\n{server.tail()}")
            raise
        finally:
            for server in servers.values():
                server.close()
            if redis is not None:
                redis.close()
    elapsed = time.monotonic() - started

    summary = summarise(samples)
    report(summary, skipped, args.rounds)
    targets = check_targets(summary)
    path = write_json(
        "e2e",
        {
            "machine": machine(),
            "settings": {
                "rounds": args.rounds,
                "seconds": args.seconds,
                "connections": args.connections,
                "load_generator": generator,
                "server_cpu": server_cpu,
                "load_cpu": load_cpu,
                "wsgi_server": "waitress, 4 threads",
                "asgi_server": asgi_server(),
            },
            "elapsed_seconds": elapsed,
            "summary": summary,
            "samples": samples,
            "skipped": skipped,
            "targets": targets,
        },
    )
    print(f"\nwrote {path}")
    if args.chart:
        chart(summary)
    return 0


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def asgi_server() -> str:
    """uvicorn's version and the HTTP parser and loop it picks (its defaults)."""
    try:
        import uvicorn
    except ImportError:
        return "uvicorn not installed"
    http = "httptools" if installed("httptools") else "h11"
    loop = "uvloop" if installed("uvloop") else "asyncio"
    return f"uvicorn {uvicorn.__version__}, {http}, {loop} loop"


def summarise(samples: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for variant, runs in samples.items():
        summary[variant] = {
            "label": LABELS[variant],
            "requests_per_second": median([r["requests_per_second"] for r in runs]),
            "cpu_us_per_request": median([r["cpu_seconds_per_request"] for r in runs]) * 1e6,
            "p50_ms": median([r["p50_ms"] for r in runs]),
            "errors": sum(r["errors"] for r in runs),
        }
    for variant, row in summary.items():
        bare = summary.get(bare_of(variant))
        if bare is not None:
            row["session_cpu_us_per_request"] = (
                row["cpu_us_per_request"] - bare["cpu_us_per_request"]
            )
            row["cpu_x_bare"] = row["cpu_us_per_request"] / bare["cpu_us_per_request"]
            row["rps_x_bare"] = row["requests_per_second"] / bare["requests_per_second"]
    floor = summary.get(FLOOR, {}).get("session_cpu_us_per_request")
    cookie_floor = summary.get(COOKIE_FLOOR, {}).get("session_cpu_us_per_request")
    for variant, row in summary.items():
        session_us = row.get("session_cpu_us_per_request")
        if variant.endswith("redis") and session_us is not None and floor:
            row["x_floor"] = session_us / floor
        if (
            variant.startswith("asgi-")
            and variant.endswith("cookie")
            and variant != COOKIE_FLOOR
            and session_us is not None
            and cookie_floor
        ):
            row["x_cookie_floor"] = session_us / cookie_floor
    return summary


def report(summary: dict[str, dict[str, Any]], skipped: dict[str, str], rounds: int) -> None:
    print(f"\nEnd to end, per request: median of {rounds} interleaved rounds\n")
    rows = [
        [
            row["label"],
            f"{row['requests_per_second']:,.0f}",
            f"{row.get('rps_x_bare', 1):.2f}",
            f"{row['cpu_us_per_request']:.0f}",
            f"{row.get('cpu_x_bare', 1):.2f}",
            f"{row.get('session_cpu_us_per_request', 0):.0f}",
            f"{row['p50_ms']:.2f}",
            row["errors"],
        ]
        for row in summary.values()
    ]
    print(
        table(
            [
                "variant",
                "req/s",
                "x bare",
                "CPU µs/req",
                "x bare",
                "session CPU µs",
                "p50 ms",
                "errors",
            ],
            rows,
        )
    )
    for variant, reason in skipped.items():
        print(f"skipped: {LABELS[variant]} ({reason})")
    for name, key, what in (
        (FLOOR, "x_floor", "Redis rows"),
        (COOKIE_FLOOR, "x_cookie_floor", "Starlette cookie rows"),
    ):
        floor = summary.get(name, {}).get("session_cpu_us_per_request")
        if floor is None or floor <= 0:
            continue
        print(f"\n{what} against their floor ({floor:.0f} µs of session CPU per request)\n")
        rows = [
            [row["label"], f"{row['session_cpu_us_per_request']:.0f}", f"{row[key]:.2f}"]
            for row in summary.values()
            if key in row
        ]
        print(table(["variant", "session CPU µs", "x floor"], rows))


def target_label(ours: str, peer: str, limit: float) -> str:
    framework = LABELS[ours].split(":", 1)[0]
    return f"{framework}: session CPU, satchel vs {peer}: {LIMIT_TEXT[limit]}"


def check_targets(summary: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target's ratio, satchel's session CPU over the peer's, same run."""
    print("\nTargets (session CPU = variant's CPU per request minus its bare handler's)")
    targets = []
    for ours, theirs, peer, limit, strict in TARGETS:
        label = target_label(ours, peer, limit)
        if ours not in summary or theirs not in summary:
            missing = ", ".join(LABELS[v] for v in (ours, theirs) if v not in summary)
            print(f"  {label}: not measured ({missing} not run)")
            targets.append({"target": label, "value": None, "met": False, "measured": False})
            continue
        theirs_us = summary[theirs].get("session_cpu_us_per_request")
        ours_us = summary[ours].get("session_cpu_us_per_request")
        if theirs_us is None or ours_us is None or theirs_us <= 0:
            print(f"  {label}: not measurable (the peer's session CPU is {theirs_us})")
            targets.append({"target": label, "value": None, "met": False, "measured": False})
            continue
        value = ours_us / theirs_us
        met = value < limit if strict else value <= limit
        print(f"  {label}: {value:.3f} ({ours_us:.0f} / {theirs_us:.0f} µs) — {verdict(met)}")
        targets.append(
            {
                "target": label,
                "value": value,
                "met": met,
                "measured": True,
                "satchel_us": ours_us,
                "peer_us": theirs_us,
            }
        )
    return targets


def chart(summary: dict[str, dict[str, Any]]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no chart")
        return
    names = list(summary)[::-1]
    values = [summary[name]["cpu_us_per_request"] for name in names]
    colours = [
        "#4c72b0" if "satchel" in name else "#cccccc" if name.endswith("bare") else "#999999"
        for name in names
    ]
    figure, axes = plt.subplots(figsize=(10, max(5, 0.32 * len(names) + 1.5)))
    bars = axes.barh([summary[name]["label"] for name in names], values, color=colours)
    axes.bar_label(bars, fmt="%.0f µs", padding=3, fontsize=8)
    axes.set_xlabel("server CPU µs per request (median)")
    axes.set_title("End to end over loopback: server CPU per request")
    axes.set_xlim(0, max(values) * 1.15)
    figure.tight_layout()
    path = RESULTS / "e2e.png"
    figure.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
