"""satchel-tornado installed alone with the core: it works, and pulls in no
other framework, adapter or database client."""

from __future__ import annotations

from pathlib import Path

from tests.install_helpers import imported_after, install_alone, installed_distributions

OTHERS = {
    "aiohttp",
    "satchel_aiohttp",
    "satchel_wsgi",
    "satchel_redis",
    "satchel_postgres",
    "satchel_demo",
    "redis",
    "psycopg",
    "psycopg2",
    "flask",
    "bottle",
    "waitress",
}


def test_installed_alone(tmp_path: Path) -> None:
    python = install_alone(tmp_path / "venv", "adapters/tornado")
    distributions = installed_distributions(python)
    assert {"satchel", "satchel-tornado", "tornado"} <= distributions
    other_distributions = {name.replace("_", "-") for name in OTHERS}
    assert distributions & other_distributions == set()
    loaded = imported_after(
        python,
        "import satchel_tornado\n"
        "from satchel import Keyring, Settings\n"
        "config = satchel_tornado.SessionConfig(Settings(keyring=Keyring(['x' * 32])))\n"
        "assert config.protocol.storage == 'cookie'",
    )
    assert {"satchel", "satchel_tornado", "tornado"} <= loaded
    assert loaded & OTHERS == set()
