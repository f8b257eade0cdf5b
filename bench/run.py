"""Run the benchmarks: ``make bench``, or ``python bench/run.py [--quick] [PART ...]``.

Parts, in order: ``inprocess`` (the session's cost per request, no HTTP),
``store_ops`` (store round trips per request, counted by Redis and
PostgreSQL), ``owners`` (sessions by owner: a login with an owner, listing
and ending), ``e2e`` (end to end over loopback, against the peers) and
``scale`` (a million sessions, and sweeping them). Each part runs in a process
of its own, bounded in time, prints its table and targets, and writes
``bench/results/<part>.json`` (and a PNG chart for ``inprocess`` and ``e2e``).
A summary of every target follows at the end.

``--quick`` is a smoke run: fewer rounds, shorter runs, 100,000 sessions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine, verdict, write_json
from _procs import BENCH, python

PARTS = ("inprocess", "store_ops", "owners", "e2e", "scale")
FULL: dict[str, list[str]] = {
    "inprocess": ["--rounds", "9", "--seconds", "0.4"],
    "store_ops": [],
    "owners": [],
    # 26 servers: 5 rounds of 5 s runs keep the part near 12 minutes.
    "e2e": ["--rounds", "5", "--seconds", "5", "--warmup", "1"],
    "scale": ["--sessions", "1000000"],
}
QUICK: dict[str, list[str]] = {
    "inprocess": ["--rounds", "3", "--seconds", "0.15"],
    "store_ops": [],
    "owners": ["--rounds", "3", "--number", "100"],
    "e2e": ["--rounds", "2", "--seconds", "2", "--warmup", "1"],
    "scale": ["--sessions", "100000"],
}
# Generous bounds: a part that runs past its bound is stopped and reported.
TIME_LIMITS = {"inprocess": 600, "store_ops": 300, "owners": 600, "e2e": 1800, "scale": 1200}


def run_part(part: str, arguments: list[str]) -> tuple[int, float]:
    started = time.monotonic()
    command = [python(), str(BENCH / f"{part}.py"), *arguments]
    print(f"\n=== {part}: {' '.join(command[1:])}", flush=True)
    process = subprocess.Popen(command)  # its own output goes straight to ours
    try:
        code = process.wait(timeout=TIME_LIMITS[part])
    except subprocess.TimeoutExpired:
        print(f"{part}: stopped after {TIME_LIMITS[part]} s", flush=True)
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        code = -1
    except BaseException:
        process.terminate()
        process.wait(timeout=15)
        raise
    return code, time.monotonic() - started


def targets(part: str) -> list[dict[str, Any]]:
    path = RESULTS / f"{part}.json"
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    found = data.get("targets", [])
    if isinstance(found, dict):  # scale: name -> met
        return [{"target": name, "value": None, "met": met} for name, met in found.items()]
    return list(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("parts", nargs="*", metavar="PART", help=f"any of {', '.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--load-generator", choices=("auto", "wrk", "python"), default="auto", help="for e2e"
    )
    args = parser.parse_args(argv)
    unknown = [part for part in args.parts if part not in PARTS]
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    parts = [part for part in PARTS if part in args.parts] if args.parts else list(PARTS)
    plan = QUICK if args.quick else FULL
    started = time.monotonic()
    outcomes: dict[str, tuple[int, float]] = {}
    for part in parts:
        arguments = list(plan[part])
        if part == "e2e":
            arguments += ["--load-generator", args.load_generator]
        outcomes[part] = run_part(part, arguments)

    print("\n=== Summary\n")
    failed = False
    for part in parts:
        code, seconds = outcomes[part]
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        failed |= code != 0
        print(f"{part}: {status}, {seconds:.0f} s")
        if code != 0:
            continue
        for target in targets(part):
            value = target.get("value")
            if target.get("measured", True) is False:
                print(f"  {target['target']}: not measured")
                continue
            shown = "" if value is None else f" {value:.3g}"
            print(f"  {target['target']}:{shown} — {verdict(bool(target['met']))}")
    total = time.monotonic() - started
    print(f"\ntotal: {total:.0f} s")
    write_json(
        "run",
        {
            "machine": machine(),
            "mode": "quick" if args.quick else "full",
            "parts": {part: {"exit": c, "seconds": s} for part, (c, s) in outcomes.items()},
            "total_seconds": total,
        },
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
