"""Print the latest results (``bench/results/*.json``) as Markdown tables.

``python bench/report.py`` writes nothing; paste what it prints into
``docs/benchmarks.md`` after a full run, and copy the charts with
``python bench/report.py --copy-charts`` into ``docs/benchmarks/``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, markdown_table, verdict
from e2e_server import LABELS, VARIANTS

# The JSON files keep their keys sorted; the tables follow the benchmarks' order.
INPROCESS_ORDER = (
    "floor (AES-GCM + msgpack + base64url)",
    "satchel's formats and checks, no exchange",
    "satchel cookie, changed",
    "satchel cookie, read only",
    "satchel memory store, changed",
    "satchel untouched request",
    "aiohttp-session encrypted cookie",
    "Starlette signed cookie",
    "Flask signed cookie",
)
SCENARIO_ORDER = (
    "untouched (session never read)",
    "read only",
    "changed",
    "read only, after the touch interval",
    "new session, first write",
    "logout (invalidate)",
)


def ordered(mapping: dict[str, Any], order: tuple[str, ...]) -> list[tuple[str, Any]]:
    known = [(key, mapping[key]) for key in order if key in mapping]
    return known + [(key, value) for key, value in mapping.items() if key not in order]


DOCS_IMAGES = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def machine_line(data: dict[str, Any]) -> str:
    m = data["machine"]
    return (
        f"{m['implementation']} {m['python']} on {m['platform']}, "
        f"{m['cpus']} CPUs ({m['machine']}), {m['date']}"
    )


def targets_table(data: dict[str, Any]) -> str:
    rows = []
    for target in data.get("targets", []):
        value = target["value"]
        if target.get("measured", True) is False or value is None:
            rows.append([target["target"], "not measured", ""])
            continue
        rows.append([target["target"], f"{value:.3g}", verdict(target["met"])])
    return markdown_table(["target", "measured", "verdict"], rows)


def inprocess(data: dict[str, Any]) -> str:
    medians = data["median_seconds"]
    floor = medians["floor (AES-GCM + msgpack + base64url)"]
    cookie = medians["satchel cookie, changed"]
    rows = [
        [name, f"{seconds * 1e6:.1f}", f"{seconds / floor:.2f}", f"{seconds / cookie:.2f}"]
        for name, seconds in ordered(medians, INPROCESS_ORDER)
    ]
    table = markdown_table(["variant", "µs per request", "x floor", "x satchel cookie"], rows)
    return f"{table}\n\n{targets_table(data)}"


def store_ops(data: dict[str, Any]) -> str:
    redis, postgres = data["redis"], data["postgres"]
    rows = []
    for name, scenario in ordered(redis.get("scenarios", {}), SCENARIO_ORDER):
        pg = postgres.get("scenarios", {}).get(name, {})
        rows.append(
            [
                name,
                scenario["round_trips"],
                " ".join(scenario["commands_sent"]).upper() or "none",
                pg.get("round_trips", "-"),
                ", ".join(f"{k} {v}" for k, v in pg.get("table", {}).items() if v) or "none",
            ]
        )
    table = markdown_table(
        [
            "request",
            "Redis round trips",
            "Redis commands",
            "PostgreSQL round trips",
            "PostgreSQL table work",
        ],
        rows,
    )
    return f"{table}\n\n{targets_table(data)}"


def e2e(data: dict[str, Any]) -> str:
    rows = []
    for _, row in ordered(data["summary"], VARIANTS):
        rows.append(
            [
                row["label"],
                f"{row['requests_per_second']:,.0f}",
                f"{row['cpu_us_per_request']:.0f}",
                f"{row.get('cpu_x_bare', 1):.2f}",
                f"{row.get('session_cpu_us_per_request', 0):.0f}",
                # Redis rows: session CPU as a multiple of the floor row's.
                f"{row['x_floor']:.2f}" if "x_floor" in row else "-",
                f"{row['p50_ms']:.2f}",
                row["errors"],
            ]
        )
    table = markdown_table(
        [
            "variant",
            "requests/s",
            "server CPU µs/request",
            "x bare",
            "session CPU µs/request",
            "x floor",
            "p50 ms",
            "errors",
        ],
        rows,
    )
    skipped = "".join(
        f"\n\nNot measured: {LABELS.get(variant, variant)} ({reason})."
        for variant, reason in data.get("skipped", {}).items()
    )
    return f"{table}{skipped}\n\n{targets_table(data)}"


def scale(data: dict[str, Any]) -> str:
    mem, lite, pg = data["memory"], data["sqlite"], data["postgres"]
    rows = []
    for label, part in (("memory", mem), ("SQLite", lite), ("PostgreSQL", pg)):
        if isinstance(part, str):
            rows.append([label, part, "", ""])
            continue
        rows.append(
            [
                label,
                f"{part['sweep_none_expired_seconds'] * 1e3:.2f}",
                f"{part['sweep_1pct_expired_seconds'] * 1e3:.1f}",
                f"{part['sweep_1pct_expired_removed']:,}",
            ]
        )
    table = markdown_table(
        ["store", "sweep, none expired (ms)", "sweep, 1% expired (ms)", "removed"], rows
    )
    sessions = mem["sessions"]
    per = mem["bytes_per_session_beyond_payload"]
    targets = markdown_table(
        ["target", "measured", "verdict"],
        [
            [
                "memory store: at most 400 bytes per session beyond the payload",
                f"{per:.0f} bytes",
                verdict(data["targets"]["memory_overhead"]),
            ],
            [
                "memory store: sweep time follows the expired sessions",
                f"{mem['sweep_none_expired_seconds'] * 1e3:.2f} ms vs "
                f"{mem['sweep_1pct_expired_seconds'] * 1e3:.1f} ms",
                verdict(data["targets"]["sweep_proportional"]),
            ],
        ],
    )
    return f"{sessions:,} sessions.\n\n{table}\n\n{targets}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copy-charts", action="store_true")
    args = parser.parse_args(argv)
    for name, render in (
        ("inprocess", inprocess),
        ("store_ops", store_ops),
        ("e2e", e2e),
        ("scale", scale),
    ):
        data = load(name)
        if data is None:
            print(f"## {name}: no results\n")
            continue
        print(f"## {name}\n\n{machine_line(data)}\n\n{render(data)}\n")
    run = load("run")
    if run is not None:
        parts = ", ".join(f"{k} {v['seconds']:.0f} s" for k, v in run["parts"].items())
        print(f"Run ({run['mode']}): {run['total_seconds']:.0f} s in all ({parts}).")
    if args.copy_charts:
        DOCS_IMAGES.mkdir(exist_ok=True)
        for chart in sorted(RESULTS.glob("*.png")):
            shutil.copy(chart, DOCS_IMAGES / chart.name)
            print(f"copied {chart.name} to {DOCS_IMAGES}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
