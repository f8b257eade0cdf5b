"""Run every fuzz target for a bounded time and print what each found.

``python -m fuzz.run --seconds 60`` (what ``make fuzz`` runs). Each target
runs in its own process over its committed seed corpus (fuzz/corpus/<target>)
plus a working corpus that grows across runs in an ignored directory
(fuzz/.work/<target>/corpus); a failing input is written there too, as
``crash-*``, ``timeout-*`` or ``oom-*``. The exit status is 1 if any target
failed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

__all__ = ["ROOT", "TARGETS", "Report", "run_target"]

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("cookie_header", "session_exchange", "record_unpack", "set_cookie")
# A single input slower than this is a failure (the parsers promise linear
# time); far above what any input takes on a busy machine.
_INPUT_TIMEOUT = 25
_MAX_LEN = 4096
_FAILURE_PREFIXES = ("crash-", "timeout-", "oom-", "leak-", "slow-unit-")


class Report(NamedTuple):
    """What one target's run did."""

    target: str
    returncode: int
    executions: int | None
    coverage: int | None
    features: int | None
    new_units: int | None
    failures: tuple[Path, ...]
    log: Path

    @property
    def clean(self) -> bool:
        """Ran to its time limit and found nothing."""
        return self.returncode == 0 and not self.failures and self.executions is not None


def _stat(name: str, output: str) -> int | None:
    found = re.search(rf"^stat::{name}:\s+(\d+)", output, re.MULTILINE)
    return int(found.group(1)) if found else None


def run_target(target: str, seconds: int, work: Path, python: str = sys.executable) -> Report:
    """Fuzz `target` for `seconds`, its working files under `work`/`target`."""
    home = work / target
    corpus = home / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for stale in home.glob("*-*"):
        if stale.name.startswith(_FAILURE_PREFIXES):
            stale.unlink()
    command = [
        python,
        "-m",
        f"fuzz.{target}",
        f"-max_total_time={seconds}",
        f"-timeout={_INPUT_TIMEOUT}",
        f"-max_len={_MAX_LEN}",
        "-print_final_stats=1",
        f"-artifact_prefix={home}/",
        str(corpus),
        str(ROOT / "fuzz" / "corpus" / target),
    ]
    finished = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
        # Start-up and the seed corpus come on top of the fuzzing time.
        timeout=seconds + 300,
    )
    output = finished.stdout + finished.stderr
    log = home / "last-run.log"
    log.write_text(output)
    stats = re.findall(r"\bcov: (\d+) ft: (\d+)", output)
    coverage, features = (int(stats[-1][0]), int(stats[-1][1])) if stats else (None, None)
    failures = tuple(
        sorted(path for path in home.iterdir() if path.name.startswith(_FAILURE_PREFIXES))
    )
    return Report(
        target=target,
        returncode=finished.returncode,
        executions=_stat("number_of_executed_units", output),
        coverage=coverage,
        features=features,
        new_units=_stat("new_units_added", output),
        failures=failures,
        log=log,
    )


def _shown(number: int | None) -> str:
    return "-" if number is None else f"{number:,}"


def main() -> int:
    """Run the targets named on the command line (default: all)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="fuzzing time per target")
    parser.add_argument("--work", type=Path, default=ROOT / "fuzz" / ".work")
    parser.add_argument("targets", nargs="*", help=f"some of: {', '.join(TARGETS)}")
    options = parser.parse_args()
    unknown = set(options.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target(s): {', '.join(sorted(unknown))}")
    reports = []
    for target in options.targets or TARGETS:
        print(f"fuzzing {target} for {options.seconds} s ...", flush=True)
        reports.append(run_target(target, options.seconds, options.work))
    print()
    print(f"{'target':<18} {'executions':>12} {'cov':>6} {'ft':>6} {'new':>5}  result")
    for report in reports:
        if report.clean:
            result = "no crash"
        elif report.failures:
            result = f"{len(report.failures)} failing input(s)"
        else:
            result = f"exit status {report.returncode}, see {report.log}"
        print(
            f"{report.target:<18} {_shown(report.executions):>12} {_shown(report.coverage):>6} "
            f"{_shown(report.features):>6} {_shown(report.new_units):>5}  {result}"
        )
        for path in report.failures:
            print(f"    {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    if all(report.clean for report in reports):
        return 0
    print(
        "\nEach failing input above: reproduce with `.venv/bin/python -m fuzz.<target> <file>`, "
        "then pin it as a test in tests/fuzz/test_regressions.py."
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
