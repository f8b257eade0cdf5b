"""Bytes in Redis that are not a session: the next request starts afresh under
a new ID, and the bad key is deleted, never reused."""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from satchel import Keyring, Session, SessionProtocol, Settings
from satchel.testing import Browser, ManualClock
from satchel_redis import RedisStore

from ..conftest import SECRET
from .conftest import glob_escape

pytestmark = pytest.mark.redis


def overwrite_with_bytes(garbage: bytes) -> Callable[[redis.Redis, str], None]:
    def corrupt(client: redis.Redis, key: str) -> None:
        client.set(key, garbage, keepttl=True)

    return corrupt


def overwrite_with_hash(client: redis.Redis, key: str) -> None:
    ttl = client.pttl(key)
    client.delete(key)
    client.hset(key, mapping={"revision": 1, "value": b"not a string"})
    client.pexpire(key, ttl)


CORRUPTIONS = {
    "empty": overwrite_with_bytes(b""),
    "shorter than the header": overwrite_with_bytes(b"\x01\x00\x00"),
    "unknown format byte": overwrite_with_bytes(struct.pack(">BQ", 9, 1) + b"\x81\xa1a\x01"),
    "header then garbage": overwrite_with_bytes(struct.pack(">BQ", 1, 1) + b"\xc1\xff garbage"),
    "header alone": overwrite_with_bytes(struct.pack(">BQ", 1, 1)),
    "random bytes": overwrite_with_bytes(bytes(range(255, -1, -1)) * 3),
    "a hash, not a string": overwrite_with_hash,
}


@pytest.fixture
def prefix(redis_prefix: str) -> str:
    return f"{redis_prefix}corrupt-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def store(redis_url: str, prefix: str) -> Iterator[RedisStore]:
    with RedisStore.from_url(redis_url, prefix=prefix) as store:
        yield store


def session_keys(client: redis.Redis, prefix: str) -> set[bytes]:
    return set(client.scan_iter(match=glob_escape(prefix) + "*"))


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_corrupt_record_opens_a_fresh_session(
    corrupt: Callable[[redis.Redis, str], None],
    store: RedisStore,
    redis_admin: redis.Redis,
    prefix: str,
) -> None:
    settings = Settings(keyring=Keyring([SECRET]))
    browser = Browser(SessionProtocol(settings, storage="server"), ManualClock(), store)
    browser.request(lambda s: s.update(user="ada"))
    (bad_key,) = session_keys(redis_admin, prefix)
    first_cookie = browser.cookies[settings.cookie_name]

    corrupt(redis_admin, bad_key.decode())

    def visit(session: Session) -> object:
        user = session.get("user")
        session["visits"] = 1
        return user

    response = browser.request(visit)
    assert response.value is None  # a fresh session, not a crash
    assert response.outcome.ended_reason == "invalid"
    assert response.ops == ("Load", "Delete", "Save")
    # A new ID in the cookie, a new key in Redis, and the bad key gone.
    assert browser.cookies[settings.cookie_name] != first_cookie
    (new_key,) = session_keys(redis_admin, prefix)
    assert new_key != bad_key
    assert redis_admin.exists(bad_key) == 0
    # The new session works as any other.
    assert browser.request(lambda s: (s.get("user"), s.get("visits"))).value == (None, 1)


def test_corrupt_record_is_deleted_even_by_a_read_only_request(
    store: RedisStore, redis_admin: redis.Redis, prefix: str
) -> None:
    settings = Settings(keyring=Keyring([SECRET]))
    browser = Browser(SessionProtocol(settings, storage="server"), ManualClock(), store)
    browser.request(lambda s: s.update(user="ada"))
    (bad_key,) = session_keys(redis_admin, prefix)
    redis_admin.set(bad_key, b"\x01 corrupt", keepttl=True)

    response = browser.request(lambda s: s.get("user"))
    assert response.value is None
    assert response.ops == ("Load", "Delete")
    assert session_keys(redis_admin, prefix) == set()
