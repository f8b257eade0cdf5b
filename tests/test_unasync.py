"""The synchronous store modules are generated from the asyncio ones
(``stores/unasync.py``); a hand edit or a stale copy fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "stores" / "unasync.py"


def test_generated_modules_are_current() -> None:
    finished = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert finished.returncode == 0, finished.stderr


def test_check_sees_a_stale_module(tmp_path: Path) -> None:
    # The same script over a copy of the tree whose generated module was edited by hand.
    stores = tmp_path / "stores"
    for path in SCRIPT.parent.rglob("*.py"):
        target = stores / path.relative_to(SCRIPT.parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    # The project's settings, which the script's formatting follows.
    (tmp_path / "pyproject.toml").write_text(
        (ROOT / "pyproject.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    generated = stores / "redis" / "satchel_redis" / "_sync.py"
    generated.write_text(generated.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    check = [sys.executable, str(stores / "unasync.py"), "--check"]
    stale = subprocess.run(check, capture_output=True, text=True, check=False)
    assert stale.returncode == 1
    assert "redis/satchel_redis/_sync.py" in stale.stderr
    assert "postgres" not in stale.stderr  # the untouched one is still current
    subprocess.run([sys.executable, str(stores / "unasync.py")], check=True, capture_output=True)
    assert subprocess.run(check, capture_output=True, check=False).returncode == 0
    assert "# edited" not in generated.read_text(encoding="utf-8")
