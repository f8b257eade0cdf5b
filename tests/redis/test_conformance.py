"""The store conformance suite over the Redis driver: sync and asyncio, one
server and a real three-node cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
import redis.asyncio
from redis.cluster import ClusterNode

from satchel.testing import AsyncStoreConformance, StoreConformance
from satchel.testing._conformance import RunCoroutine
from satchel_redis import AsyncRedisStore, RedisStore

from .servers import HOST, RedisProcess

pytestmark = pytest.mark.redis


# --8<-- [start:conformance]
class TestRedisStore(StoreConformance):
    # Redis drops expired keys itself: the expiry tests sleep past a real TTL.
    native_expiry = True

    @pytest.fixture
    def store(self, redis_url: str, redis_prefix: str) -> Iterator[RedisStore]:
        with RedisStore.from_url(redis_url, prefix=redis_prefix) as store:
            yield store


class TestAsyncRedisStore(AsyncStoreConformance):
    native_expiry = True

    @pytest.fixture
    def store(
        self, redis_url: str, redis_prefix: str, run: RunCoroutine
    ) -> Iterator[AsyncRedisStore]:
        store = AsyncRedisStore.from_url(redis_url, prefix=redis_prefix)
        yield store
        run(store.aclose())
        # --8<-- [end:conformance]


class TestRedisStoreOnACluster(StoreConformance):
    native_expiry = True

    @pytest.fixture
    def store(self, redis_cluster: list[RedisProcess], redis_prefix: str) -> Iterator[RedisStore]:
        # A client built by hand, as an application with its own cluster
        # settings would; the store leaves closing it to its owner.
        client = redis.cluster.RedisCluster(
            startup_nodes=[ClusterNode(HOST, node.port) for node in redis_cluster],
            socket_timeout=5,
            socket_connect_timeout=5,
        )
        try:
            yield RedisStore(client, prefix=redis_prefix)
        finally:
            client.close()


async def warm_up(client: redis.asyncio.RedisCluster, connections: int) -> None:
    """Open `connections` connections to every node, one after another."""
    await client.initialize()
    for node in client.get_nodes():
        opened = [node.acquire_connection() for _ in range(connections)]
        for connection in opened:
            await connection.connect()
        for connection in opened:
            node.release(connection)


class TestAsyncRedisStoreOnACluster(AsyncStoreConformance):
    native_expiry = True

    @pytest.fixture
    def store(
        self, redis_cluster: list[RedisProcess], redis_prefix: str, run: RunCoroutine
    ) -> Iterator[AsyncRedisStore]:
        client = redis.asyncio.RedisCluster(
            host=HOST, port=redis_cluster[0].port, socket_timeout=5, socket_connect_timeout=5
        )
        # redis-py's asyncio cluster client can lose a connection that is still
        # connecting when many tasks open connections to one node at once on a
        # busy machine (its writer is gone before the handshake is sent: an
        # AttributeError from inside redis-py). That race is the client
        # library's, not the store's, so the connections the concurrency tests
        # need are opened one at a time before they start.
        run(warm_up(client, self.concurrency))
        try:
            yield AsyncRedisStore(client, prefix=redis_prefix)
        finally:
            run(client.aclose())
