"""satchel-asgi installed with nothing but the core: no framework, no server,
no database client.
"""

from __future__ import annotations

from pathlib import Path

from tests.install_helpers import imported_after, install_alone, installed_distributions

OTHERS = {
    "starlette",
    "fastapi",
    "litestar",
    "uvicorn",
    "hypercorn",
    "anyio",
    "aiohttp",
    "tornado",
    "flask",
    "werkzeug",
    "redis",
    "psycopg",
    "psycopg_pool",
    "satchel_aiohttp",
    "satchel_tornado",
    "satchel_wsgi",
    "satchel_flask",
    "satchel_redis",
    "satchel_postgres",
    "satchel_demo",
}


def test_satchel_asgi_works_installed_alone(tmp_path: Path) -> None:
    python = install_alone(tmp_path / "venv", "adapters/asgi")
    modules = imported_after(
        python,
        "import asyncio\n"
        "import satchel_asgi\n"
        "from satchel import Keyring, MemoryStore, Settings\n"
        "settings = Settings(keyring=Keyring(['x' * 32]))\n"
        "async def app(scope, receive, send): pass\n"
        "middleware = satchel_asgi.SessionMiddleware(app, settings, store=MemoryStore())\n"
        "async def lifespan():\n"
        "    events = iter([{'type': 'lifespan.startup'}, {'type': 'lifespan.shutdown'}])\n"
        "    sent = []\n"
        "    async def receive(): return next(events)\n"
        "    async def send(message): sent.append(message['type'])\n"
        "    await middleware({'type': 'lifespan'}, receive, send)\n"
        "    assert sent == ['lifespan.startup.complete', 'lifespan.shutdown.complete'], sent\n"
        "asyncio.run(lifespan())",
    )
    assert "satchel_asgi" in modules
    assert modules.isdisjoint(OTHERS)
    distributions = installed_distributions(python)
    assert {"satchel", "satchel-asgi"} <= distributions
    assert distributions.isdisjoint({name.replace("_", "-") for name in OTHERS})
