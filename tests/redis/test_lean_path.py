"""The stores `from_url` builds keep redis-py connections between operations
and send each command straight on one: what that must never break, against
a real ``redis-server`` the tests start, pause and cut off."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import attrs
import pytest
import redis
import redis.exceptions

from satchel import Load, Loaded, Missing, Saved, StoreError
from satchel_redis import AsyncRedisStore, RedisStore

from .servers import HOST, RedisProcess
from .test_faults import KEY, NOW, VALUE, Flavour, assert_clean_failure, flavour, save, store_on

__all__ = ["flavour", "store_on"]  # the fixtures, shared with the fault tests

pytestmark = pytest.mark.redis

ADMIN = "satchel-lean-admin"
Build = Callable[..., RedisStore | AsyncRedisStore]


def load(key: str) -> Load:
    return Load(key=key, now=NOW)


@pytest.fixture
def admin(own_server: RedisProcess) -> Iterator[redis.Redis]:
    with redis.Redis(host=HOST, port=own_server.port, client_name=ADMIN) as client:
        yield client


def store_clients(admin: redis.Redis) -> list[int]:
    """The ids of the connections open on the server, the admin's left out."""
    return [int(c["id"]) for c in admin.client_list() if c["name"] != ADMIN]


def kill_store_clients(admin: redis.Redis) -> int:
    killed = 0
    for client_id in store_clients(admin):
        killed += int(admin.client_kill_filter(_id=client_id))
    return killed


def test_script_cache_flushed(
    flavour: Flavour, store_on: Build, own_server: RedisProcess, admin: redis.Redis
) -> None:
    store = store_on(own_server.url)
    assert flavour.execute(store, save()) == Saved(revision=1)
    assert flavour.execute(store, save(b"v2", 1)) == Saved(revision=2)
    admin.script_flush()
    # EVALSHA is refused, the script loaded, and EVALSHA sent again.
    assert flavour.execute(store, save(b"v3", 2)) == Saved(revision=3)
    assert flavour.execute(store, load(KEY)) == Loaded(value=b"v3", revision=3)


def test_connection_reused_between_operations(
    flavour: Flavour, store_on: Build, own_server: RedisProcess, admin: redis.Redis
) -> None:
    store = store_on(own_server.url)
    assert flavour.execute(store, save()) == Saved(revision=1)
    (first,) = store_clients(admin)
    for revision in range(1, 6):
        flavour.execute(store, save(b"v", revision))
        flavour.execute(store, load(KEY))
    assert store_clients(admin) == [first]


def test_connection_killed_between_operations(
    flavour: Flavour, store_on: Build, own_server: RedisProcess, admin: redis.Redis
) -> None:
    store = store_on(own_server.url)
    assert flavour.execute(store, save()) == Saved(revision=1)
    (first,) = store_clients(admin)
    assert kill_store_clients(admin) == 1
    # The held connection is dead: the op is sent again on a fresh one.
    assert flavour.execute(store, save(b"v2", 1)) == Saved(revision=2)
    (second,) = store_clients(admin)
    assert second != first
    assert flavour.execute(store, load(KEY)) == Loaded(value=b"v2", revision=2)


def test_connection_killed_mid_operation(
    flavour: Flavour, store_on: Build, own_server: RedisProcess, admin: redis.Redis
) -> None:
    store = store_on(own_server.url)
    assert flavour.execute(store, save()) == Saved(revision=1)
    # Writes wait while the server is paused for them; the admin's commands do not.
    admin.client_pause(5000, all=False)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(flavour.execute, store, save(b"v2", 1))
        deadline = time.monotonic() + 5
        while not any(c["cmd"] == "evalsha" for c in admin.client_list() if c["name"] != ADMIN):
            assert time.monotonic() < deadline, "the update never reached the server"
            time.sleep(0.01)
        assert kill_store_clients(admin) == 1
        time.sleep(0.05)
        admin.client_unpause()
        # The killed command never ran; it was sent again on a fresh connection.
        assert pending.result(timeout=5) == Saved(revision=2)
    assert flavour.execute(store, load(KEY)) == Loaded(value=b"v2", revision=2)
    assert len(store_clients(admin)) == 1


def test_no_late_reply_after_a_timeout(
    flavour: Flavour, store_on: Build, own_server: RedisProcess, admin: redis.Redis
) -> None:
    store = store_on(own_server.url, timeout=0.25)
    other = "another-session-key-0123456"
    assert flavour.execute(store, save()) == Saved(revision=1)
    assert flavour.execute(store, attrs.evolve(save(b"other"), key=other)) == Saved(revision=1)
    for _ in range(3):
        admin.client_pause(1000, all=True)
        with pytest.raises(StoreError) as caught:
            flavour.execute(store, load(KEY))
        assert_clean_failure(caught.value, "Load", redis.exceptions.TimeoutError)
        admin.ping()  # returns once the pause is over
        # The timed-out connection was closed: its late reply to the first
        # load is never read as the answer to this one.
        assert flavour.execute(store, load(other)) == Loaded(value=b"other", revision=1)
    # The pool gave out fresh connections and none was leaked.
    assert len(store_clients(admin)) == 1


def test_error_reply_keeps_the_connection(
    flavour: Flavour, store_on: Build, own_server: RedisProcess, admin: redis.Redis
) -> None:
    store = store_on(own_server.url)
    admin.rpush(f"satchel:{{{KEY}}}", b"not a session")
    # WRONGTYPE: not in this format, read as a record no format accepts.
    assert flavour.execute(store, load(KEY)) == Loaded(value=b"", revision=0)
    (first,) = store_clients(admin)
    assert flavour.execute(store, load(KEY)) == Loaded(value=b"", revision=0)
    assert store_clients(admin) == [first]


def test_concurrent_operations_each_get_their_own_reply(own_server: RedisProcess) -> None:
    async def main() -> list[object]:
        async with AsyncRedisStore.from_url(own_server.url) as store:
            for n in range(20):
                await store.execute(attrs.evolve(save(b"v%d" % n), key=f"key-{n:02d}"))
            return await asyncio.gather(*(store.execute(load(f"key-{n:02d}")) for n in range(20)))

    results = asyncio.run(main())
    assert results == [Loaded(value=b"v%d" % n, revision=1) for n in range(20)]


def test_threads_each_get_their_own_reply(own_server: RedisProcess) -> None:
    with RedisStore.from_url(own_server.url) as store:
        for n in range(20):
            store.execute(attrs.evolve(save(b"v%d" % n), key=f"key-{n:02d}"))
        with ThreadPoolExecutor(8) as pool:
            for _ in range(10):
                results = list(pool.map(lambda n: store.execute(load(f"key-{n:02d}")), range(20)))
                assert results == [Loaded(value=b"v%d" % n, revision=1) for n in range(20)]


def test_async_round_trips(own_server: RedisProcess) -> None:
    # The asyncio store's commands as the server logged them: one per op,
    # the script loaded only when the server does not know it.
    with redis.Redis(host=HOST, port=own_server.port, client_name=ADMIN) as admin:
        admin.config_set("slowlog-log-slower-than", 0)

        def sent() -> list[str]:
            entries = admin.slowlog_get(1000)
            admin.slowlog_reset()
            return [
                entry["command"].split()[0].decode().lower()
                for entry in reversed(entries)
                if entry["client_name"] != ADMIN.encode() and entry["client_address"] != b"?:0"
            ]

        async def main() -> list[list[str]]:
            trips = []
            async with AsyncRedisStore.from_url(own_server.url) as store:
                await store.execute(load(KEY))  # connects: its handshake is not an op's cost
                sent()
                for op in (load(KEY), save(), save(b"v2", 1), save(b"v3", 2), load(KEY)):
                    await store.execute(op)
                    trips.append(sent())
            return trips

        assert asyncio.run(main()) == [
            ["get"],
            ["set"],
            ["evalsha", "script", "evalsha"],
            ["evalsha"],
            ["get"],
        ]


def test_cancelled_from_outside_is_not_a_timeout(
    own_server: RedisProcess, admin: redis.Redis
) -> None:
    async def main() -> None:
        async with AsyncRedisStore.from_url(own_server.url, timeout=5.0) as store:
            await store.execute(save())
            admin.client_pause(3000, all=True)
            try:
                task = asyncio.create_task(store.execute(load(KEY)))
                await asyncio.sleep(0.1)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            finally:
                admin.client_unpause()
            # The cancelled command's connection was closed, not reused.
            assert await store.execute(load("another-key")) == Missing()
            assert await store.execute(load(KEY)) == Loaded(value=VALUE, revision=1)

    asyncio.run(main())


def test_forked_child_opens_its_own_connection(
    own_server: RedisProcess, admin: redis.Redis
) -> None:
    # A child shares its parent's sockets: it must not send on the parent's
    # connection, which the parent keeps using.
    context = multiprocessing.get_context("fork")
    with RedisStore.from_url(own_server.url) as store:
        assert store.execute(save()) == Saved(revision=1)
        (parent,) = store_clients(admin)
        results = context.Queue()

        def child() -> None:
            results.put((store.execute(load(KEY)), store_clients(admin)))

        process = context.Process(target=child)
        process.start()
        loaded, clients = results.get(timeout=10)
        process.join(timeout=10)
        assert loaded == Loaded(value=VALUE, revision=1)
        assert parent in clients
        assert len(clients) >= 2  # and the child's own connection
        assert store.execute(save(b"v2", 1)) == Saved(revision=2)
        assert parent in store_clients(admin)
