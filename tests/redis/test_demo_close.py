"""The demo closes the asyncio Redis store it built when it stops."""

from __future__ import annotations

import asyncio

import pytest
import redis

from satchel import Load
from satchel_demo import make_store
from satchel_demo._config import aclose_store

pytestmark = pytest.mark.redis


def clients_named(url: str, name: str) -> int:
    with redis.Redis.from_url(url) as admin:
        return sum(1 for client in admin.client_list() if client.get("name") == name)


def test_aclose_store_closes_an_asyncio_redis_store(redis_url: str, run_id: str) -> None:
    # AsyncRedisStore has aclose() and no close(); the Tornado demo used to
    # look for close() only and left the connections open.
    name = f"satchel-demo-close-{run_id}"
    store = make_store("redis", asynchronous=True, redis_url=f"{redis_url}?client_name={name}")

    async def use_then_close() -> int:
        await store.execute(Load(key="demo-close-probe", now=1_700_000_000.0))
        open_clients = clients_named(redis_url, name)
        await aclose_store(store)
        return open_clients

    assert asyncio.run(use_then_close()) == 1
    assert clients_named(redis_url, name) == 0
