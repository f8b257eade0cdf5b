"""satchel-redis installed with nothing but the core and redis-py."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.install_helpers import imported_after, install_alone, installed_distributions

pytestmark = pytest.mark.redis

OTHERS = {
    "aiohttp",
    "tornado",
    "flask",
    "bottle",
    "werkzeug",
    "psycopg",
    "psycopg_pool",
    "satchel_aiohttp",
    "satchel_tornado",
    "satchel_wsgi",
    "satchel_postgres",
    "satchel_demo",
}


def test_satchel_redis_works_installed_alone(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    python = install_alone(tmp_path / "venv", "stores/redis")
    # Both flavours, against the real server: the declared dependencies are
    # all the driver needs.
    script = textwrap.dedent(
        f"""
        import asyncio
        from satchel import Delete, Load, Loaded, Save, Saved
        from satchel_redis import AsyncRedisStore, RedisStore

        url, prefix, key = {redis_url!r}, {redis_prefix!r}, "installed-alone"
        op = Save(key=key, value=b"v", ttl=60.0, expires_at=60.0, expected_revision=None, now=0.0)
        with RedisStore.from_url(url, prefix=prefix) as store:
            assert store.execute(op) == Saved(revision=1)

        async def main():
            async with AsyncRedisStore.from_url(url, prefix=prefix) as store:
                loaded = await store.execute(Load(key=key, now=0.0))
                assert loaded == Loaded(value=b"v", revision=1), loaded
                await store.execute(Delete(key=key))

        asyncio.run(main())
        """
    )
    modules = imported_after(python, script)
    assert {"satchel", "satchel_redis", "redis"} <= modules
    assert modules.isdisjoint(OTHERS)
    distributions = installed_distributions(python)
    assert {"satchel", "satchel-redis", "redis"} <= distributions
    assert distributions.isdisjoint({name.replace("_", "-") for name in OTHERS})
