"""satchel-redis: the Redis store driver for satchel.

`RedisStore` (synchronous) and `AsyncRedisStore` (asyncio) execute the core's
`Load`, `Save` and `Delete` operations, and keep the owner index that
`ListOwned` and `EndOwned` read, against a redis-py client: one server, a
Sentinel-managed primary, or a Redis Cluster.
"""

from __future__ import annotations

from ._async import AsyncRedisStore
from ._shared import DEFAULT_PREFIX, DEFAULT_TIMEOUT
from ._sync import RedisStore

__all__ = ["DEFAULT_PREFIX", "DEFAULT_TIMEOUT", "AsyncRedisStore", "RedisStore"]
