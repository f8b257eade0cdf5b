"""Shared by the benchmarks: interleaved rounds, medians, ratios, output files."""

from __future__ import annotations

import json
import os
import platform
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

SECRET = "benchmark secret, not for production use"
OTHER_COOKIES = "theme=dark; _ga=GA1.2.1234567.1600000000"
"""Two ordinary cookies every measured request carries beside the session's."""


def payload() -> dict[str, Any]:
    """A realistic session: user id, roles, a CSRF token and a five-item cart."""
    return {
        "user_id": 12345,
        "roles": ["admin", "editor"],
        "csrf": secrets.token_urlsafe(32),
        "cart": [{"sku": f"SKU-{i:05d}", "qty": i + 1, "price": 9.99 + i} for i in range(5)],
    }


def change(session: Any) -> None:
    """The in-process variants' one change per request."""
    session["cart"][0]["qty"] += 1


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
    }


Measure = Callable[[int], float]
"""Runs an operation `n` times and returns the total seconds it took."""


def sync_measure(fn: Callable[[], object]) -> Measure:
    """A `Measure` for a plain callable."""

    def measure(number: int) -> float:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return time.perf_counter() - start

    return measure


def calibrate(measure: Measure, seconds: float) -> int:
    """How many operations take about `seconds`."""
    number = 1
    while True:
        elapsed = measure(number)
        if elapsed >= seconds / 10 or number >= 1 << 22:
            return max(1, int(number * seconds / max(elapsed, 1e-9)))
        number *= 4


def interleaved(
    variants: dict[str, Measure], rounds: int, seconds: float
) -> dict[str, list[float]]:
    """Seconds per operation for each variant, one sample per round.

    Variants run A B C … A B C …, so a noisy machine hits all of them alike.
    """
    numbers = {name: calibrate(measure, seconds) for name, measure in variants.items()}
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, measure in variants.items():
            samples[name].append(measure(numbers[name]) / numbers[name])
    return samples


def median(values: list[float]) -> float:
    return statistics.median(values)


def write_json(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain-text table: the first column left-aligned, the others right."""
    cells = [[str(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        parts = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    """The same table in Markdown, for the docs."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
