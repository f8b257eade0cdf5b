"""Install distributions of this repository, alone, into a fresh virtualenv.

Used by the "installed alone" tests: each adapter and driver must work with
just the core and its one framework or client library.
"""

from __future__ import annotations

import json
import subprocess
import venv
from pathlib import Path

from .services import unavailable

ROOT = Path(__file__).resolve().parent.parent


def install_alone(target: Path, *distributions: str) -> Path:
    """Make a virtualenv at `target` holding the core plus `distributions`
    (paths relative to the repository root, e.g. ``"adapters/aiohttp"``),
    installed from this checkout with their declared dependencies only.
    Returns the environment's python."""
    venv.EnvBuilder(with_pip=True, clear=True).create(target)
    python = target / "bin" / "python"
    command = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += [str(ROOT)] + [str(ROOT / dist) for dist in distributions]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        unavailable(
            f"could not install {distributions} into a fresh virtualenv: {done.stderr[-2000:]}"
        )
    return python


def imported_after(python: Path, statement: str) -> set[str]:
    """The top-level module names loaded after running `statement` in `python`."""
    code = (
        f"import json, sys\n{statement}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run(
        [str(python), "-I", "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def installed_distributions(python: Path) -> set[str]:
    """Normalised names of every distribution installed in `python`'s environment."""
    code = (
        "import importlib.metadata as m, json;"
        "print(json.dumps(sorted({d.metadata['Name'].lower().replace('_', '-')"
        " for d in m.distributions()})))"
    )
    done = subprocess.run(
        [str(python), "-I", "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(done.stdout))


__all__ = ["ROOT", "imported_after", "install_alone", "installed_distributions"]
