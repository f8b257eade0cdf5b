"""What the Redis driver stores, where, and how it is configured."""

from __future__ import annotations

import asyncio
import struct
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio
from redis.crc import key_slot

from satchel import (
    ConfigurationError,
    Conflict,
    Delete,
    Deleted,
    Load,
    Loaded,
    Missing,
    Save,
    Saved,
)
from satchel_redis import DEFAULT_PREFIX, AsyncRedisStore, RedisStore

from .servers import HOST, RedisProcess

pytestmark = pytest.mark.redis

NOW = 1_700_000_000.0


def save(
    key: str, value: bytes = b"v", expected_revision: int | None = None, *, ttl: float = 600.0
) -> Save:
    return Save(
        key=key,
        value=value,
        ttl=ttl,
        expires_at=NOW + ttl,
        expected_revision=expected_revision,
        now=NOW,
    )


@pytest.fixture
def prefix(redis_prefix: str) -> str:
    """A prefix of this test's own, under the run's prefix."""
    return f"{redis_prefix}{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def store(redis_url: str, prefix: str) -> Iterator[RedisStore]:
    with RedisStore.from_url(redis_url, prefix=prefix) as store:
        yield store


# -- layout ---------------------------------------------------------------------------


def test_one_string_per_session_with_header_and_native_expiry(
    store: RedisStore, redis_admin: redis.Redis, prefix: str
) -> None:
    value = bytes(range(256))
    assert store.execute(save("sess", value, ttl=600.0)) == Saved(revision=1)
    assert store.execute(save("sess", value[::-1], 1, ttl=900.0)) == Saved(revision=2)

    key = f"{prefix}{{sess}}"
    assert redis_admin.keys(prefix + "*") == [key.encode()]
    assert redis_admin.type(key) == b"string"
    assert redis_admin.get(key) == struct.pack(">BQ", 1, 2) + value[::-1]
    # The update replaced the expiry: more than the first save's 600 s are left.
    assert 600_000 < redis_admin.pttl(key) <= 900_000


def test_ttl_is_given_to_redis_in_milliseconds_rounded_up(
    store: RedisStore, redis_admin: redis.Redis, prefix: str
) -> None:
    # Redis refuses PX 0: a sub-millisecond TTL must still be stored.
    assert store.execute(save("tiny", ttl=0.0001)) == Saved(revision=1)
    assert store.execute(save("whole", ttl=2.5)) == Saved(revision=1)
    assert 0 < redis_admin.pttl(f"{prefix}{{whole}}") <= 2500


def test_non_finite_ttl_is_refused_and_nothing_is_written(
    store: RedisStore, redis_admin: redis.Redis, prefix: str
) -> None:
    with pytest.raises(ValueError, match="ttl"):
        store.execute(save("forever", ttl=float("inf")))
    assert redis_admin.exists(f"{prefix}{{forever}}") == 0


def test_load_ignores_the_ops_clock(store: RedisStore) -> None:
    # Redis judges expiry by its own clock; `now` on a Load changes nothing.
    store.execute(save("k", b"live"))
    for now in (0.0, NOW, NOW + 10**9):
        assert store.execute(Load(key="k", now=now)) == Loaded(value=b"live", revision=1)


def test_prefixes_keep_stores_apart(redis_url: str, prefix: str) -> None:
    with (
        RedisStore.from_url(redis_url, prefix=prefix + "a:") as first,
        RedisStore.from_url(redis_url, prefix=prefix + "b:") as second,
    ):
        first.execute(save("k", b"in a"))
        assert second.execute(Load(key="k", now=NOW)) == Missing()
        assert second.execute(save("k", b"in b")) == Saved(revision=1)
        assert first.execute(Load(key="k", now=NOW)) == Loaded(value=b"in a", revision=1)


def test_two_stores_on_one_prefix_share_sessions(redis_url: str, prefix: str) -> None:
    # As two worker processes of one application would.
    with (
        RedisStore.from_url(redis_url, prefix=prefix) as first,
        RedisStore.from_url(redis_url, prefix=prefix) as second,
    ):
        first.execute(save("k", b"one"))
        assert second.execute(save("k", b"two", 1)) == Saved(revision=2)
        assert first.execute(save("k", b"stale", 1)) == Conflict()
        assert first.execute(Load(key="k", now=NOW)) == Loaded(value=b"two", revision=2)


def test_empty_prefix_is_allowed(redis_url: str, redis_admin: redis.Redis) -> None:
    key = f"satchel-test-empty-prefix-{uuid.uuid4().hex}"
    with RedisStore.from_url(redis_url, prefix="") as store:
        try:
            store.execute(save(key))
            assert redis_admin.exists(f"{{{key}}}") == 1
        finally:
            store.execute(Delete(key=key))


def test_default_prefix() -> None:
    store = RedisStore(redis.Redis())
    assert store.prefix == DEFAULT_PREFIX == "satchel:"


def test_async_flavour_writes_the_same_layout(
    redis_url: str, redis_admin: redis.Redis, prefix: str
) -> None:
    async def scenario() -> None:
        async with AsyncRedisStore.from_url(redis_url, prefix=prefix) as store:
            assert await store.execute(save("k", b"abc")) == Saved(revision=1)
            assert await store.execute(save("k", b"abcd", 1)) == Saved(revision=2)

    asyncio.run(scenario())
    assert redis_admin.get(f"{prefix}{{k}}") == struct.pack(">BQ", 1, 2) + b"abcd"
    # And the sync flavour reads what the async one wrote.
    with RedisStore.from_url(redis_url, prefix=prefix) as store:
        assert store.execute(Load(key="k", now=NOW)) == Loaded(value=b"abcd", revision=2)


# -- cluster ----------------------------------------------------------------------------


def test_a_sessions_slot_depends_on_its_key_alone(redis_cluster: list[RedisProcess]) -> None:
    keys = [f"session-{n}" for n in range(50)]
    with RedisStore.from_url(
        f"redis://{HOST}:{redis_cluster[0].port}", cluster=True, prefix="app-one:"
    ) as store:
        client = store.client
        assert isinstance(client, redis.cluster.RedisCluster)
        for key in keys:
            assert store.execute(save(key)) == Saved(revision=1)
        # Another prefix, same sessions: every key lands in the same slot.
        other = RedisStore(client, prefix="another-app:")
        for key in keys:
            slot = key_slot(key.encode())
            assert client.keyslot(f"app-one:{{{key}}}") == slot
            assert client.keyslot(f"another-app:{{{key}}}") == slot
            assert other.execute(save(key)) == Saved(revision=1)
        # ...and the sessions spread over the three nodes rather than one slot.
        holders = {client.get_node_from_key(f"app-one:{{{key}}}").name for key in keys}
        assert len(holders) == len(redis_cluster)
        for key in keys:
            assert store.execute(Delete(key=key)) == Deleted()
            assert other.execute(Delete(key=key)) == Deleted()


def test_async_from_url_on_a_cluster(redis_cluster: list[RedisProcess]) -> None:
    async def scenario() -> list[object]:
        async with AsyncRedisStore.from_url(
            f"redis://{HOST}:{redis_cluster[1].port}", cluster=True, prefix="async:"
        ) as store:
            assert isinstance(store.client, redis.asyncio.RedisCluster)
            return [
                await store.execute(save("k", b"x")),
                await store.execute(save("k", b"y", 1)),
                await store.execute(Load(key="k", now=NOW)),
                await store.execute(Delete(key="k")),
            ]

    assert asyncio.run(scenario()) == [
        Saved(revision=1),
        Saved(revision=2),
        Loaded(value=b"y", revision=2),
        Deleted(),
    ]


# -- closing ----------------------------------------------------------------------------


def _connected(admin: redis.Redis, client_id: int) -> bool:
    return bool(admin.client_list(client_id=[client_id]))


def _wait_until_gone(admin: redis.Redis, client_id: int) -> bool:
    # The server notices a closed socket on its next loop turn: wait for it.
    deadline = time.monotonic() + 10
    while _connected(admin, client_id):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_close_closes_a_client_the_store_built(redis_url: str, redis_admin: redis.Redis) -> None:
    store = RedisStore.from_url(redis_url)
    client = store.client
    assert isinstance(client, redis.Redis)
    client_id = client.client_id()
    assert _connected(redis_admin, client_id)
    store.close()
    assert _wait_until_gone(redis_admin, client_id)


def test_close_leaves_a_client_you_built_alone(redis_url: str, redis_admin: redis.Redis) -> None:
    with redis.Redis.from_url(redis_url, single_connection_client=True) as client:
        client_id = client.client_id()
        RedisStore(client).close()
        assert _connected(redis_admin, client_id)
        assert client.client_id() == client_id  # the same connection, still open


def test_aclose_closes_a_client_the_store_built(redis_url: str, redis_admin: redis.Redis) -> None:
    async def scenario() -> int:
        store = AsyncRedisStore.from_url(redis_url)
        client = store.client
        assert isinstance(client, redis.asyncio.Redis)
        client_id = await client.client_id()
        assert _connected(redis_admin, client_id)
        await store.aclose()
        return int(client_id)

    assert _wait_until_gone(redis_admin, asyncio.run(scenario()))


def test_aclose_leaves_a_client_you_built_alone(redis_url: str, redis_admin: redis.Redis) -> None:
    async def scenario() -> None:
        client = redis.asyncio.Redis.from_url(redis_url, single_connection_client=True)
        try:
            client_id = await client.client_id()
            await AsyncRedisStore(client).aclose()
            assert _connected(redis_admin, client_id)
            assert await client.client_id() == client_id
        finally:
            await client.aclose()

    asyncio.run(scenario())


# -- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "problem"),
    [(b"bytes:", "must be a str"), (None, "must be a str"), ("a{b}:", "hash tag"), ("x}", "'}'")],
)
def test_prefix_is_validated(prefix: object, problem: str) -> None:
    for build in (
        lambda: RedisStore(redis.Redis(), prefix=prefix),  # type: ignore[arg-type]
        lambda: AsyncRedisStore(redis.asyncio.Redis(), prefix=prefix),  # type: ignore[arg-type]
        lambda: RedisStore.from_url("redis://localhost", prefix=prefix),  # type: ignore[arg-type]
        lambda: AsyncRedisStore.from_url("redis://localhost", prefix=prefix),  # type: ignore[arg-type]
    ):
        with pytest.raises(ConfigurationError, match=r"^prefix: ") as caught:
            build()
        assert problem in str(caught.value)


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), True, "2", None])
def test_timeout_is_validated(timeout: object) -> None:
    with pytest.raises(ConfigurationError, match=r"^timeout: "):
        RedisStore.from_url("redis://localhost", timeout=timeout)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"^timeout: "):
        AsyncRedisStore.from_url("redis://localhost", timeout=timeout)  # type: ignore[arg-type]


def test_url_is_validated_without_repeating_it() -> None:
    url = "http://user:hunter2-secret@localhost:6379/0"
    for build in (RedisStore.from_url, AsyncRedisStore.from_url):
        with pytest.raises(ConfigurationError, match=r"^url: ") as caught:
            build(url)
        assert "hunter2" not in str(caught.value)
        with pytest.raises(ConfigurationError, match=r"^url: must be a str"):
            build(b"redis://localhost")  # type: ignore[arg-type]


def test_cluster_flag_is_validated() -> None:
    with pytest.raises(ConfigurationError, match=r"^cluster: "):
        RedisStore.from_url("redis://localhost", cluster="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"^cluster: "):
        AsyncRedisStore.from_url("redis://localhost", cluster=1)  # type: ignore[arg-type]


def test_client_must_be_of_the_stores_flavour() -> None:
    with pytest.raises(ConfigurationError, match=r"^client: .*use AsyncRedisStore"):
        RedisStore(redis.asyncio.Redis())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"^client: .*use RedisStore"):
        AsyncRedisStore(redis.Redis())  # type: ignore[arg-type]
    for thing in (None, "redis://localhost", object()):
        with pytest.raises(ConfigurationError, match=r"^client: "):
            RedisStore(thing)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match=r"^client: "):
            AsyncRedisStore(thing)  # type: ignore[arg-type]


def test_client_must_return_bytes() -> None:
    with pytest.raises(ConfigurationError, match=r"^client: .*decode_responses=False"):
        RedisStore(redis.Redis(decode_responses=True))
    with pytest.raises(ConfigurationError, match=r"^client: .*decode_responses=False"):
        AsyncRedisStore(redis.asyncio.Redis(decode_responses=True))


def test_unknown_op_is_a_type_error(store: RedisStore) -> None:
    with pytest.raises(TypeError, match="not a store operation"):
        store.execute("Load")  # type: ignore[arg-type]
