"""Mutation testing of the core with mutmut: the score per module and the survivors.

Each module in `MODULES` is mutated on its own, in a work tree of its own
(``mutate/.work/<module>/``, rebuilt on every run) that holds a ``satchel``
link to ``core/satchel``, a ``tests`` link to ``tests`` and a generated
``pyproject.toml`` naming that one module and the test files that cover it.
mutmut copies the package into the work tree's ``mutants/`` folder and puts
that folder first on ``sys.path``, so the tests import the mutated copy and
not the editable install. mutmut runs with one worker, and a module's run is
interrupted after ``--seconds``.

Every mutant that is not killed must be listed, with the lines it changes
and the reason it is harmless, in ``mutate/survivors.toml``. The run fails
(exit code 1) on a survivor that is not listed there, on a listed one whose
change no longer matches, and on a module whose mutants were not all tested
in time. The survivors of the run are written to
``mutate/.work/survivors.toml`` in the list's format.

    python -m mutate.run [--seconds N] [module ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "mutate" / ".work"
SURVIVORS = ROOT / "mutate" / "survivors.toml"

# The module (in core/satchel) and the core test files that exercise it. A
# tests/core/test_mutation_<module>.py file is added when it exists.
MODULES: dict[str, tuple[str, ...]] = {
    "_cookies": (
        "test_cookies.py",
        "test_cookies_properties.py",
        "test_cookie_policy.py",
        "test_boundaries.py",
        "test_format_vectors.py",
    ),
    "_record": (
        "test_record.py",
        "test_owners.py",
        "test_boundaries.py",
        "test_format_vectors.py",
    ),
    "_seal": ("test_seal.py", "test_boundaries.py", "test_format_vectors.py"),
    "_keyring": ("test_keyring.py", "test_seal.py", "test_format_vectors.py"),
}

# mutmut's exit-code classes (mutmut.stats.status_by_exit_code) grouped the
# way the table shows them: a timeout means the tests noticed the mutant.
_KILLED = {"killed", "timeout", "caught by type check", "segfault"}
_NOT_RUN = {"not checked", "check was interrupted by user"}


@dataclass
class Outcome:
    """What one module's run left in its work tree."""

    module: str
    statuses: Counter[str] = field(default_factory=Counter)
    survivors: dict[str, str] = field(default_factory=dict)  # name -> diff
    killed_names: set[str] = field(default_factory=set)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        """How many mutants the module has."""
        return sum(self.statuses.values())

    @property
    def killed(self) -> int:
        """How many the tests noticed (failed or ran out of time)."""
        return sum(count for status, count in self.statuses.items() if status in _KILLED)

    @property
    def not_run(self) -> int:
        """How many were not tested within the time bound."""
        return sum(count for status, count in self.statuses.items() if status in _NOT_RUN)


def _toml_value(value: object) -> str:
    # JSON strings, booleans, numbers and lists of them are TOML too.
    return json.dumps(value)


def _work_tree(module: str) -> Path:
    """A fresh work tree for `module`, with its mutmut and pytest settings."""
    tree = WORK / module
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    (tree / "satchel").symlink_to(ROOT / "core" / "satchel", target_is_directory=True)
    (tree / "tests").symlink_to(ROOT / "tests", target_is_directory=True)
    tests = [f"tests/core/{name}" for name in MODULES[module]]
    extra = ROOT / "tests" / "core" / f"test_mutation{module}.py"
    if extra.exists():
        tests.append(f"tests/core/{extra.name}")
    mutmut = {
        "source_paths": ["satchel"],
        "only_mutate": [f"satchel/{module}.py"],
        "pytest_add_cli_args_test_selection": tests,
        # The same examples in every run, so a mutant that only a randomised
        # property test notices is killed in every run or in none.
        "pytest_add_cli_args": ["--hypothesis-seed=0"],
        "use_git_change_detection": False,
    }
    pytest_options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"][
        "ini_options"
    ]
    lines = ["[tool.mutmut]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in mutmut.items()]
    lines += ["", "[tool.pytest.ini_options]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in pytest_options.items()]
    (tree / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return tree


def _run_mutmut(module: str, tree: Path, seconds: float) -> float:
    """Run mutmut in `tree`, interrupting it after `seconds`; the seconds it took."""
    log_path = tree / "mutmut.log"
    started = time.monotonic()
    interrupted = False
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mutmut", "run", "--max-children", "1"],
            cwd=tree,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            interrupted = True
            # mutmut stops its worker and keeps the results so far on SIGINT.
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    elapsed = time.monotonic() - started
    if process.returncode != 0 and not interrupted:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise SystemExit(f"mutmut failed on {module} (exit {process.returncode}):\n{tail}")
    return elapsed


def _outcome(module: str, tree: Path) -> Outcome:
    """The status of every mutant of `module`, and the diff of each survivor."""
    from mutmut.configuration import reset_config
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    outcome = Outcome(module)
    source = f"satchel/{module}.py"
    meta = json.loads((tree / "mutants" / f"{source}.meta").read_text())
    with contextlib.chdir(tree):
        reset_config()
        for name, code in sorted(meta["exit_code_by_key"].items()):
            status = status_by_exit_code[code]
            outcome.statuses[status] += 1
            if status in _KILLED:
                outcome.killed_names.add(name)
            elif status not in _NOT_RUN:
                outcome.survivors[name] = get_diff_for_mutant(name, path=source)
    return outcome


def _change(diff: str) -> list[str]:
    """The removed and added lines of a mutant's diff, each as ``"- code"`` or ``"+ code"``."""
    return [
        f"{line[0]} {line[1:].strip()}"
        for line in diff.splitlines()
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]


def _listed() -> dict[str, dict[str, Any]]:
    if not SURVIVORS.exists():
        return {}
    entries = tomllib.loads(SURVIVORS.read_text()).get("survivor", [])
    return {entry["name"]: entry for entry in entries}


def _write_found(outcomes: list[Outcome]) -> Path:
    """Write the survivors of the run in the list's format, reasons left empty, to copy from."""
    found = WORK / "survivors.toml"
    blocks = [
        "\n".join(
            [
                "[[survivor]]",
                f"name = {_toml_value(name)}",
                f"change = {_toml_value(_change(diff))}",
                'reason = ""',
            ]
        )
        for outcome in outcomes
        for name, diff in outcome.survivors.items()
    ]
    found.write_text("\n\n".join(blocks) + "\n")
    return found


def _report(outcomes: list[Outcome]) -> int:
    """Print the table and the survivors; 1 if any survivor is not listed as harmless."""
    print()
    print(f"{'module':<10} {'killed':>7} {'total':>6} {'score':>7} {'survived':>9} "
          f"{'untested':>9} {'time':>7}")  # fmt: skip
    for outcome in outcomes:
        score = 100 * outcome.killed / outcome.total if outcome.total else 0.0
        print(
            f"{outcome.module:<10} {outcome.killed:>7} {outcome.total:>6} {score:>6.1f}% "
            f"{len(outcome.survivors):>9} {outcome.not_run:>9} {outcome.seconds:>6.0f}s"
        )
    listed = _listed()
    failures = 0
    for outcome in outcomes:
        if outcome.survivors:
            print(f"\nSurvivors in core/satchel/{outcome.module}.py:")
        for name, diff in outcome.survivors.items():
            change = _change(diff)
            entry = listed.get(name)
            if entry is None:
                verdict = "NEW: not in mutate/survivors.toml"
                failures += 1
            elif entry.get("change") != change or not entry.get("reason"):
                verdict = "CHANGED: the list gives another change for this name, or no reason"
                failures += 1
            else:
                verdict = f"listed: {entry['reason']}"
            print(f"  {name}")
            for line in change:
                print(f"      {line}")
            print(f"    {verdict}")
    killed = {name for outcome in outcomes for name in outcome.killed_names}
    # A listed name of a module that ran whole, neither surviving nor killed,
    # names no mutant any more (its code changed or went).
    ran_whole = {outcome.module for outcome in outcomes if not outcome.not_run}
    survived = {name for outcome in outcomes for name in outcome.survivors}
    stale = [
        name
        for name in listed
        if name in killed or (name.split(".")[1] in ran_whole and name not in survived)
    ]
    if stale:
        print(
            "\nListed in mutate/survivors.toml but killed now, or no longer a mutant "
            "(remove them from the list):"
        )
        for name in stale:
            print(f"  {name}")
    for outcome in outcomes:
        if outcome.not_run:
            print(
                f"\n{outcome.module}: {outcome.not_run} mutant(s) not tested within the time "
                "bound; raise MUTATE_SECONDS"
            )
            failures += 1
    found = _write_found(outcomes)
    if failures:
        print(
            f"\nFAILED: {failures} problem(s) above. Kill a new survivor with a test, or list "
            "it with the reason it is harmless (this run's survivors, in the list's format: "
            f"{found.relative_to(ROOT)})."
        )
        return 1
    print("\nEvery surviving mutant is listed in mutate/survivors.toml.")
    return 0


def main() -> int:
    """Run mutmut over the chosen modules and print the scores and survivors."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="module", help=", ".join(MODULES))
    parser.add_argument("--seconds", type=float, default=600, help="bound per module")
    arguments = parser.parse_args()
    unknown = sorted(set(arguments.modules) - set(MODULES))
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    outcomes = []
    for module in arguments.modules or list(MODULES):
        print(f"mutating core/satchel/{module}.py (at most {arguments.seconds:.0f} s) ...")
        sys.stdout.flush()
        tree = _work_tree(module)
        seconds = _run_mutmut(module, tree, arguments.seconds)
        outcome = _outcome(module, tree)
        outcome.seconds = seconds
        outcomes.append(outcome)
    return _report(outcomes)


if __name__ == "__main__":
    sys.exit(main())
