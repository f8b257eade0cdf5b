"""Failures of a real ``redis-server`` the tests start, kill and restart:
each becomes `StoreError`, and the same store works again once the server is
back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import pytest
import redis
import redis.exceptions

from satchel import (
    Delete,
    Deleted,
    Ended,
    EndOwned,
    ListOwned,
    Load,
    Loaded,
    Missing,
    Op,
    Owned,
    Result,
    Save,
    Saved,
    StoreError,
)
from satchel_redis import AsyncRedisStore, RedisStore

from .servers import HOST, RedisProcess, free_ports

pytestmark = pytest.mark.redis

NOW = 1_700_000_000.0
KEY = "the-session-key-0123456789"
VALUE = b"\x00the-session-value\xff"
OWNER = "the-owner-ada"


def save(
    value: bytes = VALUE, expected_revision: int | None = None, *, owner: str | None = None
) -> Save:
    return Save(
        key=KEY,
        value=value,
        ttl=600.0,
        expires_at=NOW + 600.0,
        expected_revision=expected_revision,
        now=NOW,
        owner=owner,
        max_owned=100 if owner else None,
    )


EVERY_OP: list[Op] = [
    Load(key=KEY, now=NOW),
    save(),
    save(b"next", 1),
    Delete(key=KEY),
    save(owner=OWNER),
    save(b"next", 1, owner=OWNER),
    Delete(key=KEY, owner=OWNER),
    ListOwned(owner=OWNER, now=NOW),
    EndOwned(owner=OWNER, now=NOW),
]
ACTIONS = ["Load", "Save (create)", "Save (update)", "Delete"]
ACTIONS += [*ACTIONS[1:], "ListOwned", "EndOwned"]  # the same ops with an owner


def assert_clean_failure(error: StoreError, action: str, cause: type[BaseException]) -> None:
    """The message names the operation and the error type, never the key or value."""
    message = str(error)
    assert message.startswith(f"redis store failed: {action}: {cause.__name__}"), message
    assert KEY not in message
    assert "the-session-value" not in message
    assert OWNER not in message
    assert isinstance(error.__cause__, cause)


class Flavour:
    """Runs ops on a sync or an async store, so each fault test covers both."""

    def __init__(self, is_async: bool) -> None:
        self.is_async = is_async
        self._runner = asyncio.Runner() if is_async else None

    def store(self, url: str, *, timeout: float) -> RedisStore | AsyncRedisStore:
        if self.is_async:
            return AsyncRedisStore.from_url(url, timeout=timeout)
        return RedisStore.from_url(url, timeout=timeout)

    def execute(self, store: RedisStore | AsyncRedisStore, op: Op) -> Result:
        if isinstance(store, AsyncRedisStore):
            return self.run(store.execute(op))
        return store.execute(op)

    def run(self, awaitable: Awaitable[Result]) -> Result:
        assert self._runner is not None

        async def wrapped() -> Result:
            return await awaitable

        return self._runner.run(wrapped())

    def close(self, store: RedisStore | AsyncRedisStore) -> None:
        if isinstance(store, AsyncRedisStore):
            assert self._runner is not None
            self._runner.run(store.aclose())
        else:
            store.close()

    def finish(self) -> None:
        if self._runner is not None:
            self._runner.close()


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> Iterator[Flavour]:
    flavour = Flavour(request.param)
    yield flavour
    flavour.finish()


@pytest.fixture
def store_on(flavour: Flavour) -> Iterator[Callable[..., RedisStore | AsyncRedisStore]]:
    made: list[RedisStore | AsyncRedisStore] = []

    def build(url: str, *, timeout: float = 2.0) -> RedisStore | AsyncRedisStore:
        store = flavour.store(url, timeout=timeout)
        made.append(store)
        return store

    yield build
    for store in made:
        flavour.close(store)


def test_connection_refused(
    flavour: Flavour, store_on: Callable[..., RedisStore | AsyncRedisStore]
) -> None:
    (port,) = free_ports(1)  # nothing listens there
    store = store_on(f"redis://{HOST}:{port}/0", timeout=1.0)
    for op, action in zip(EVERY_OP, ACTIONS, strict=True):
        with pytest.raises(StoreError) as caught:
            flavour.execute(store, op)
        assert_clean_failure(caught.value, action, redis.exceptions.ConnectionError)
        assert f"{HOST}:{port}" in str(caught.value)  # where it tried, for the log


def test_server_killed_mid_run_then_restarted(
    flavour: Flavour,
    store_on: Callable[..., RedisStore | AsyncRedisStore],
    own_server: RedisProcess,
) -> None:
    store = store_on(own_server.url, timeout=1.0)
    assert flavour.execute(store, save()) == Saved(revision=1)
    assert flavour.execute(store, save(b"v2", 1)) == Saved(revision=2)
    assert flavour.execute(store, Load(key=KEY, now=NOW)) == Loaded(value=b"v2", revision=2)

    own_server.kill()
    for op, action in zip(EVERY_OP, ACTIONS, strict=True):
        with pytest.raises(StoreError) as caught:
            flavour.execute(store, op)
        assert_clean_failure(caught.value, action, redis.exceptions.ConnectionError)

    own_server.start()  # the same port; persistence is off, so it starts empty
    assert flavour.execute(store, Load(key=KEY, now=NOW)) == Missing()
    assert flavour.execute(store, save()) == Saved(revision=1)
    # The restarted server has no script cache: the update loads the script again.
    assert flavour.execute(store, save(b"after", 1)) == Saved(revision=2)
    assert flavour.execute(store, Load(key=KEY, now=NOW)) == Loaded(value=b"after", revision=2)
    assert flavour.execute(store, Delete(key=KEY)) == Deleted()


def test_timeout(
    flavour: Flavour,
    store_on: Callable[..., RedisStore | AsyncRedisStore],
    own_server: RedisProcess,
) -> None:
    store = store_on(own_server.url, timeout=0.25)
    assert flavour.execute(store, save()) == Saved(revision=1)
    with redis.Redis(host=HOST, port=own_server.port, socket_timeout=30) as admin:
        # Every client's commands wait while the server is paused, far longer
        # than the store's timeout: only the timeout can end the call.
        admin.client_pause(3000, all=True)
        with pytest.raises(StoreError) as caught:
            flavour.execute(store, Load(key=KEY, now=NOW))
        assert_clean_failure(caught.value, "Load", redis.exceptions.TimeoutError)
        admin.ping()  # returns once the pause is over
    assert flavour.execute(store, Load(key=KEY, now=NOW)) == Loaded(value=VALUE, revision=1)
    assert flavour.execute(store, save(b"v2", 1)) == Saved(revision=2)


def test_error_replies_become_store_errors(
    flavour: Flavour,
    store_on: Callable[..., RedisStore | AsyncRedisStore],
    own_server: RedisProcess,
) -> None:
    store = store_on(own_server.url)
    assert flavour.execute(store, save()) == Saved(revision=1)
    with redis.Redis(host=HOST, port=own_server.port) as admin:
        # A full server (maxmemory reached, no eviction) refuses writes.
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)
        try:
            with pytest.raises(StoreError) as caught:
                flavour.execute(store, save())
            assert_clean_failure(caught.value, "Save (create)", redis.exceptions.OutOfMemoryError)
            with pytest.raises(StoreError) as caught:
                flavour.execute(store, save(b"v2", 1))
            # Redis refuses to run a script that may write, too.
            assert_clean_failure(caught.value, "Save (update)", redis.exceptions.OutOfMemoryError)
            # Reads and deletes still go through: a full server can log users out.
            assert flavour.execute(store, Load(key=KEY, now=NOW)) == Loaded(value=VALUE, revision=1)
            assert flavour.execute(store, Delete(key=KEY)) == Deleted()
        finally:
            admin.config_set("maxmemory", 0)
    assert flavour.execute(store, save()) == Saved(revision=1)
    assert flavour.execute(store, save(b"v2", 1)) == Saved(revision=2)


def test_a_full_server_can_still_end_an_owners_sessions(
    flavour: Flavour,
    store_on: Callable[..., RedisStore | AsyncRedisStore],
    own_server: RedisProcess,
) -> None:
    store = store_on(own_server.url)
    assert flavour.execute(store, save(owner=OWNER)) == Saved(revision=1)
    with redis.Redis(host=HOST, port=own_server.port) as admin:
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)
        try:
            with pytest.raises(StoreError) as caught:
                flavour.execute(store, save(b"v2", 1, owner=OWNER))
            assert_clean_failure(caught.value, "Save (update)", redis.exceptions.OutOfMemoryError)
            # Listing and ending write nothing new: "log out everywhere"
            # works on a server that refuses every new session.
            listed = flavour.execute(store, ListOwned(owner=OWNER, now=NOW))
            assert listed == Owned(records=((KEY, VALUE),))
            assert flavour.execute(store, EndOwned(owner=OWNER, now=NOW)) == Ended(count=1)
            assert flavour.execute(store, Load(key=KEY, now=NOW)) == Missing()
        finally:
            admin.config_set("maxmemory", 0)


def test_dead_cluster_fails_at_from_url() -> None:
    # The sync cluster client reads the slot map when it is built.
    (port,) = free_ports(1)
    with pytest.raises(StoreError, match=r"^redis store failed: connect: "):
        RedisStore.from_url(f"redis://{HOST}:{port}", cluster=True, timeout=1.0)


def test_dead_cluster_fails_at_the_first_async_op() -> None:
    (port,) = free_ports(1)

    async def scenario() -> None:
        async with AsyncRedisStore.from_url(
            f"redis://{HOST}:{port}", cluster=True, timeout=1.0
        ) as store:
            with pytest.raises(StoreError, match=r"^redis store failed: Load: "):
                await store.execute(Load(key=KEY, now=NOW))

    asyncio.run(scenario())
