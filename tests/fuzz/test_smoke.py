"""Each fuzz target runs for a few seconds and finds nothing.

The long runs are ``make fuzz``; this only proves the targets start, run
over their seed corpus and mutate it without a failure. It checks the exit
status and the failing-input files, never how many inputs ran, so a slow
machine cannot make it fail.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from fuzz.run import TARGETS, run_target

from ..services import unavailable

SECONDS = 3


@pytest.fixture(scope="module")
def atheris_installed() -> None:
    if importlib.util.find_spec("atheris") is None:
        unavailable(
            "atheris is not installed (requirements/dev.txt installs it only where "
            "PyPI has a wheel: Linux x86-64)"
        )


@pytest.mark.usefixtures("atheris_installed")
@pytest.mark.parametrize("target", TARGETS)
def test_target_runs_without_a_failure(target: str, tmp_path: Path) -> None:
    report = run_target(target, SECONDS, tmp_path)
    log = report.log.read_text()[-4000:]
    assert not report.failures, log
    assert report.returncode == 0, log
    # Final statistics are printed only by a run that reached its time limit.
    assert report.executions is not None, log
