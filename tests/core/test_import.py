"""Installing and importing the core pulls in no framework or database client."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = {
    "aiohttp",
    "tornado",
    "flask",
    "django",
    "starlette",
    "werkzeug",
    "bottle",
    "redis",
    "psycopg",
    "psycopg2",
    "psycopg_pool",
    "asyncpg",
    "pymysql",
    "sqlalchemy",
    "waitress",
    "pickle",
    "http.cookies",
}


def test_import_satchel_in_a_clean_interpreter_imports_no_framework_or_client() -> None:
    code = "import json, sys, satchel; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout))
    assert "satchel" in loaded
    offenders = sorted(
        name
        for name in loaded
        if name in FORBIDDEN or name.split(".")[0] in FORBIDDEN - {"http.cookies"}
    )
    assert offenders == []


def test_testing_kit_is_not_imported_by_the_core() -> None:
    code = "import json, sys, satchel; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout))
    assert "satchel.testing" not in loaded
    assert "pytest" not in loaded
