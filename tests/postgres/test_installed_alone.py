"""satchel-postgres installed with only the core and its declared dependencies."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ..install_helpers import imported_after, install_alone, installed_distributions

pytestmark = pytest.mark.postgres

FRAMEWORKS_AND_OTHER_CLIENTS = {"aiohttp", "tornado", "waitress", "redis"}

SCRIPT = """
import sys
from importlib import resources
from satchel import Load, Save
from satchel_postgres import PostgresStore

migration = resources.files("satchel_postgres").joinpath("owner_migration.sql")
assert "ADD COLUMN IF NOT EXISTS owner text" in migration.read_text("utf-8")

dsn, schema = sys.argv[1], sys.argv[2]
store = PostgresStore.from_dsn(dsn, schema=schema, table="alone", create_schema=True)
with store:
    store.execute(Save(key="k", value=b"alone", ttl=60.0, expires_at=160.0,
                       expected_revision=None, now=100.0, owner="ada", max_owned=2))
    print(store.execute(Load(key="k", now=100.0)).value.decode())
"""


def test_installed_alone_it_imports_and_works(
    tmp_path: Path, postgres_dsn: str, pg_schema: str
) -> None:
    python = install_alone(tmp_path / "venv", "stores/postgres")

    loaded = imported_after(python, "import satchel_postgres")
    assert {"satchel", "satchel_postgres", "psycopg", "psycopg_pool"} <= loaded
    assert not loaded & FRAMEWORKS_AND_OTHER_CLIENTS

    distributions = installed_distributions(python)
    assert {"satchel", "satchel-postgres", "psycopg", "psycopg-pool"} <= distributions
    assert not distributions & FRAMEWORKS_AND_OTHER_CLIENTS

    # The packaged schema.sql and owner_migration.sql are in the wheel, and
    # the driver talks to the server.
    done = subprocess.run(
        [str(python), "-I", "-c", SCRIPT, postgres_dsn, pg_schema],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "alone"
