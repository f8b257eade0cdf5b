"""satchel-wsgi installed with nothing but the core: no framework, no database client."""

from __future__ import annotations

from pathlib import Path

from tests.install_helpers import imported_after, install_alone, installed_distributions

OTHERS = {
    "aiohttp",
    "tornado",
    "redis",
    "psycopg",
    "psycopg_pool",
    "flask",
    "bottle",
    "werkzeug",
    "satchel_aiohttp",
    "satchel_tornado",
    "satchel_redis",
    "satchel_postgres",
    "satchel_demo",
}


def test_satchel_wsgi_works_installed_alone(tmp_path: Path) -> None:
    python = install_alone(tmp_path / "venv", "adapters/wsgi")
    modules = imported_after(
        python,
        "import satchel_wsgi\n"
        "from satchel import Keyring, MemoryStore, Settings\n"
        "settings = Settings(keyring=Keyring(['x' * 32]))\n"
        "app = satchel_wsgi.SessionMiddleware(lambda e, s: [], settings, store=MemoryStore())",
    )
    assert "satchel_wsgi" in modules
    assert modules.isdisjoint(OTHERS)
    distributions = installed_distributions(python)
    assert {"satchel", "satchel-wsgi"} <= distributions
    assert distributions.isdisjoint({name.replace("_", "-") for name in OTHERS})
