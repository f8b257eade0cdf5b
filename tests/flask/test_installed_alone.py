"""satchel-flask installed with nothing but the core and Flask: no other framework,
no database client, no other satchel distribution."""

from __future__ import annotations

from pathlib import Path

from tests.install_helpers import imported_after, install_alone, installed_distributions

OTHERS = {
    "aiohttp",
    "tornado",
    "starlette",
    "fastapi",
    "litestar",
    "uvicorn",
    "redis",
    "psycopg",
    "psycopg_pool",
    "waitress",
    "satchel_aiohttp",
    "satchel_tornado",
    "satchel_wsgi",
    "satchel_asgi",
    "satchel_redis",
    "satchel_postgres",
    "satchel_demo",
}


def test_satchel_flask_works_installed_alone(tmp_path: Path) -> None:
    python = install_alone(tmp_path / "venv", "adapters/flask")
    modules = imported_after(
        python,
        "import flask, satchel_flask\n"
        "from satchel import Keyring, MemoryStore, Settings\n"
        "app = flask.Flask('alone')\n"
        "@app.get('/')\n"
        "def index():\n"
        "    flask.session['n'] = 1\n"
        "    return 'ok'\n"
        "settings = Settings(keyring=Keyring(['x' * 32]), secure=False)\n"
        "satchel_flask.Satchel(app, settings=settings, store=MemoryStore())\n"
        "response = app.test_client().get('/')\n"
        "assert response.status_code == 200, response.status_code\n"
        "assert 'session=' in response.headers['Set-Cookie']",
    )
    assert {"satchel_flask", "flask"} <= modules
    assert modules.isdisjoint(OTHERS)
    distributions = installed_distributions(python)
    assert {"satchel", "satchel-flask", "flask"} <= distributions
    assert distributions.isdisjoint({name.replace("_", "-") for name in OTHERS})
