"""satchel-aiohttp installed alone with the core: it imports, and brings no
other framework, database client or satchel distribution with it."""

from __future__ import annotations

from pathlib import Path

from tests.install_helpers import imported_after, install_alone, installed_distributions

OTHER_MODULES = {
    "tornado",
    "flask",
    "django",
    "werkzeug",
    "bottle",
    "waitress",
    "redis",
    "psycopg",
    "psycopg_pool",
    "psycopg2",
    "asyncpg",
    "satchel_tornado",
    "satchel_wsgi",
    "satchel_redis",
    "satchel_postgres",
    "satchel_demo",
    "pytest",
}
OTHER_DISTRIBUTIONS = {
    "tornado",
    "waitress",
    "redis",
    "psycopg",
    "psycopg-binary",
    "psycopg-pool",
    "satchel-tornado",
    "satchel-wsgi",
    "satchel-redis",
    "satchel-postgres",
    "satchel-demo",
    "pytest",
}


def test_installed_alone_it_imports_and_pulls_in_nothing_else(tmp_path: Path) -> None:
    python = install_alone(tmp_path / "venv", "adapters/aiohttp")
    loaded = imported_after(python, "import satchel_aiohttp")
    assert {"satchel", "satchel_aiohttp", "aiohttp"} <= loaded
    assert loaded & OTHER_MODULES == set()
    distributions = installed_distributions(python)
    assert {"satchel", "satchel-aiohttp", "aiohttp"} <= distributions
    assert distributions & OTHER_DISTRIBUTIONS == set()
