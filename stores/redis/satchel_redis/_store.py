"""The Redis store: one Redis string per session, sync and asyncio flavours.

Each session is one key, ``prefix + "{" + store key + "}"``, holding a
nine-byte header (a format byte and the revision) followed by the record's
bytes, with a native expiry set from the `Save`'s TTL. A load is one ``GET``;
a create is one ``SET ... NX PX``; an update is one ``EVALSHA`` of a short Lua
script that compares the stored revision and writes in the same step; a delete
is one ``DEL``. Redis expires keys itself, so there is no ``sweep``.
"""

from __future__ import annotations

import asyncio
import math
import struct
from types import TracebackType
from typing import Final, final

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.cluster
import redis.exceptions
import redis.retry
from redis.backoff import NoBackoff

from satchel import (
    ConfigurationError,
    Conflict,
    Delete,
    Deleted,
    Load,
    Loaded,
    Missing,
    Op,
    Result,
    Save,
    Saved,
    StoreError,
    check_seconds,
)

__all__ = ["DEFAULT_PREFIX", "DEFAULT_TIMEOUT", "AsyncRedisStore", "RedisStore"]

DEFAULT_PREFIX: Final = "satchel:"
"""The key prefix used unless another is given."""

DEFAULT_TIMEOUT: Final = 2.0
"""Seconds `from_url` clients wait to connect and for each reply."""

SyncClient = redis.Redis | redis.cluster.RedisCluster
AsyncClient = redis.asyncio.Redis | redis.asyncio.RedisCluster

# --8<-- [start:layout]
# The stored value: a format byte, the revision (unsigned 64-bit, big-endian),
# then the record's bytes untouched. One string per session keeps a load to
# one GET and costs less memory than a hash once a value passes 64 bytes.
_HEADER: Final = struct.Struct(">BQ")
_FORMAT: Final = 1

# What a load answers for a key that is not in this format (too short, an
# unknown format byte, another Redis type): no record format accepts empty
# bytes, so the core starts a fresh session under a new ID and deletes the key.
_CORRUPT: Final = Loaded(value=b"", revision=0)


def _redis_key(prefix: str, key: str) -> str:
    # The braces make the store key the Redis Cluster hash tag: the slot
    # depends on the session alone, never on the prefix.
    return f"{prefix}{{{key}}}"


def _stored(revision: int, value: bytes) -> bytes:
    return _HEADER.pack(_FORMAT, revision) + value


def _loaded(raw: object) -> Result:
    if raw is None:
        return Missing()
    if not isinstance(raw, bytes):
        raise StoreError(f"redis store failed: Load: the reply was {type(raw).__name__}, not bytes")
    if len(raw) < _HEADER.size or raw[0] != _FORMAT:
        return _CORRUPT
    _, revision = _HEADER.unpack_from(raw)
    return Loaded(value=raw[_HEADER.size :], revision=revision)


def _ttl_ms(ttl: float) -> int:
    # PX takes whole milliseconds and refuses 0: round up, so a record never
    # expires before the exchange meant it to.
    if not math.isfinite(ttl):
        raise ValueError(f"Save.ttl must be a finite number of seconds, got {ttl!r}")
    return max(1, math.ceil(ttl * 1000))


# --8<-- [end:layout]


# --8<-- [start:script]
# The compare-and-set for updates. KEYS[1] is the session's key; ARGV[1] the
# header the stored value must start with (format byte and the revision the
# request loaded); ARGV[2] the new value; ARGV[3] the TTL in milliseconds.
# GETRANGE reads only the header, so a 64 KiB record is not copied into Lua;
# it answers "" for a missing key, and pcall turns a key of another type into
# an error table: neither equals the header, so both are a conflict.
_UPDATE_SCRIPT: Final = """
local head = redis.pcall('GETRANGE', KEYS[1], 0, #ARGV[1] - 1)
if head ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""
# --8<-- [end:script]


def _update_args(op: Save) -> list[bytes | int]:
    assert op.expected_revision is not None
    return [
        _HEADER.pack(_FORMAT, op.expected_revision),
        _stored(op.new_revision, op.value),
        _ttl_ms(op.ttl),
    ]


# --8<-- [start:errors]
# Everything redis-py raises for a failed command or connection.
# RedisClusterException (no slots, no reachable node) is not a RedisError.
_FAILURES: Final = (redis.exceptions.RedisError, redis.exceptions.RedisClusterException, OSError)

# These messages hold an address at most. Others (a server's error reply)
# could echo a command's arguments, so only their type is passed on.
_TRANSPORT: Final = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def _failure(action: str, exc: BaseException) -> StoreError:
    detail = f": {exc}" if isinstance(exc, _TRANSPORT) and str(exc) else ""
    return StoreError(f"redis store failed: {action}: {type(exc).__name__}{detail}")


def _is_wrong_type(exc: redis.exceptions.ResponseError) -> bool:
    return str(exc).startswith("WRONGTYPE")


# --8<-- [end:errors]


def _op_key(op: Op) -> str:
    if not isinstance(op, Load | Save | Delete):
        raise TypeError(f"not a store operation: {type(op).__name__}")
    return op.key


def _action(op: Op) -> str:
    if isinstance(op, Save):
        return "Save (create)" if op.expected_revision is None else "Save (update)"
    return type(op).__name__


# -- validation ---------------------------------------------------------------------


def _check_prefix(prefix: object) -> str:
    if not isinstance(prefix, str):
        raise ConfigurationError(f"prefix: must be a str, got {type(prefix).__name__}")
    if "{" in prefix or "}" in prefix:
        raise ConfigurationError(
            f"prefix: must not contain '{{' or '}}' (got {prefix!r}); the braces around "
            "each session's key are its Redis Cluster hash tag"
        )
    return prefix


def _check_timeout(timeout: object) -> float:
    return check_seconds("timeout", timeout)


def _check_url(url: object) -> str:
    if not isinstance(url, str):
        raise ConfigurationError(f"url: must be a str, got {type(url).__name__}")
    return url


def _check_flags(cluster: object) -> bool:
    if not isinstance(cluster, bool):
        raise ConfigurationError(f"cluster: must be True or False, got {cluster!r}")
    return cluster


def _check_decoding(client: SyncClient | AsyncClient) -> None:
    if client.get_encoder().decode_responses:
        raise ConfigurationError(
            "client: must be built with decode_responses=False; session records are bytes"
        )


def _check_sync_client(client: object) -> SyncClient:
    if not isinstance(client, redis.Redis | redis.cluster.RedisCluster):
        hint = (
            "; for an asyncio client use AsyncRedisStore"
            if isinstance(client, redis.asyncio.Redis | redis.asyncio.RedisCluster)
            else ""
        )
        raise ConfigurationError(
            "client: must be a redis.Redis or redis.cluster.RedisCluster, "
            f"got {type(client).__name__}{hint}"
        )
    _check_decoding(client)
    return client


def _check_async_client(client: object) -> AsyncClient:
    if not isinstance(client, redis.asyncio.Redis | redis.asyncio.RedisCluster):
        hint = (
            "; for a synchronous client use RedisStore"
            if isinstance(client, redis.Redis | redis.cluster.RedisCluster)
            else ""
        )
        raise ConfigurationError(
            "client: must be a redis.asyncio.Redis or redis.asyncio.RedisCluster, "
            f"got {type(client).__name__}{hint}"
        )
    _check_decoding(client)
    return client


def _bad_url(exc: Exception) -> ConfigurationError:
    # redis-py's URL errors describe the scheme or option, never the URL
    # itself (which may hold a password), so they are safe to repeat.
    return ConfigurationError(f"url: {exc}")


# -- the synchronous flavour ----------------------------------------------------------


@final
class RedisStore:
    """A store in Redis, for synchronous code (`satchel.Store`).

    Wraps a client you built (`redis.Redis`, including one from a
    `redis.sentinel.Sentinel`, with TLS or auth as you configured it, or a
    `redis.cluster.RedisCluster`), or one `from_url` builds. The store is as
    thread-safe as the client: redis-py's clients are.

    Args:
        client: the redis-py client, built with ``decode_responses=False``.
        prefix: put before every key; must not contain ``{`` or ``}``.

    Raises:
        ConfigurationError: `client` is not a synchronous redis-py client or
            decodes responses, or `prefix` is invalid.

    """

    __slots__ = ("_client", "_owns_client", "_prefix", "_update")

    def __init__(self, client: SyncClient, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._prefix = _check_prefix(prefix)
        self._client = _check_sync_client(client)
        # Script hashes the text once; calls send EVALSHA and fall back to
        # SCRIPT LOAD only if the server has lost its script cache.
        self._update = client.register_script(_UPDATE_SCRIPT)
        self._owns_client = False

    # --8<-- [start:from_url]
    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
        cluster: bool = False,
    ) -> RedisStore:
        """Build the client from a URL (``redis://``, ``rediss://``, ``unix://``).

        Connecting and every reply wait at most `timeout` seconds. A command
        that fails to reach the server is retried once at once, on a fresh
        connection (a pooled connection may have outlived a server restart);
        a timeout is not retried. `close` closes the client.

        Args:
            url: where the server is; with ``cluster=True``, any one node.
            prefix: put before every key; must not contain ``{`` or ``}``.
            timeout: seconds to wait for a connection and for each reply.
            cluster: build a `redis.cluster.RedisCluster`. It reads the
                cluster's slot map now, so the cluster must be reachable.

        Raises:
            ConfigurationError: an argument is invalid.
            StoreError: ``cluster=True`` and no node could be reached.

        """
        prefix = _check_prefix(prefix)
        timeout = _check_timeout(timeout)
        url = _check_url(url)
        cluster = _check_flags(cluster)
        client: SyncClient
        try:
            if cluster:
                client = redis.cluster.RedisCluster.from_url(
                    url,
                    socket_connect_timeout=timeout,
                    socket_timeout=timeout,
                    # The cluster client retries by refreshing its slot map;
                    # once is enough to follow a failover that has finished.
                    retry=redis.retry.Retry(NoBackoff(), 1),
                )
            else:
                client = redis.Redis.from_url(
                    url,
                    socket_connect_timeout=timeout,
                    socket_timeout=timeout,
                    retry=redis.retry.Retry(
                        NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)
                    ),
                )
        except ValueError as exc:
            raise _bad_url(exc) from None
        except _FAILURES as exc:
            raise _failure("connect", exc) from exc
        store = cls(client, prefix=prefix)
        store._owns_client = True
        return store
        # --8<-- [end:from_url]

    @property
    def client(self) -> SyncClient:
        """The redis-py client the store uses."""
        return self._client

    @property
    def prefix(self) -> str:
        """The key prefix."""
        return self._prefix

    # --8<-- [start:execute]
    def execute(self, op: Op) -> Result:
        """Carry out `op` (see `satchel.Store`) in one round trip.

        Raises:
            StoreError: Redis could not be reached, timed out or answered
                with an error.

        """
        key = _redis_key(self._prefix, _op_key(op))
        try:
            match op:
                case Load():
                    try:
                        return _loaded(self._client.get(key))
                    except redis.exceptions.ResponseError as exc:
                        if _is_wrong_type(exc):
                            return _CORRUPT
                        raise
                case Save(expected_revision=None):
                    # SET NX is Redis's own add-if-absent: a live key, of any
                    # type, makes it a conflict. An expired key is gone.
                    created = self._client.set(
                        key, _stored(op.new_revision, op.value), nx=True, px=_ttl_ms(op.ttl)
                    )
                    return Saved(revision=op.new_revision) if created else Conflict()
                case Save():
                    written = self._update(keys=[key], args=_update_args(op))
                    return Saved(revision=op.new_revision) if written == 1 else Conflict()
                case Delete():
                    self._client.delete(key)
                    return Deleted()
        except _FAILURES as exc:
            raise _failure(_action(op), exc) from exc
        # --8<-- [end:execute]

    def close(self) -> None:
        """Close the client if `from_url` built it; a client you passed in is yours to close."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> RedisStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RedisStore({type(self._client).__name__}, prefix={self._prefix!r})"


# -- the asyncio flavour --------------------------------------------------------------


@final
class AsyncRedisStore:
    """A store in Redis, for asyncio code (`satchel.AsyncStore`).

    The same behaviour, layout and round trips as `RedisStore`, over a
    `redis.asyncio.Redis` or `redis.asyncio.RedisCluster`.

    Args:
        client: the redis-py asyncio client, built with ``decode_responses=False``.
        prefix: put before every key; must not contain ``{`` or ``}``.

    Raises:
        ConfigurationError: `client` is not an asyncio redis-py client or
            decodes responses, or `prefix` is invalid.

    """

    __slots__ = ("_client", "_deadline", "_owns_client", "_prefix", "_update")

    def __init__(self, client: AsyncClient, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._prefix = _check_prefix(prefix)
        self._client = _check_async_client(client)
        self._update = client.register_script(_UPDATE_SCRIPT)
        self._owns_client = False
        # Set by from_url: the reply timeout, enforced here per operation.
        self._deadline: float | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
        cluster: bool = False,
    ) -> AsyncRedisStore:
        """Build the client from a URL; see `RedisStore.from_url`.

        Nothing is connected here, not even for a cluster (the asyncio
        cluster client reads its slot map on first use), so this may be
        called before the event loop runs. `aclose` closes the client.

        Raises:
            ConfigurationError: an argument is invalid.

        """
        prefix = _check_prefix(prefix)
        timeout = _check_timeout(timeout)
        url = _check_url(url)
        cluster = _check_flags(cluster)
        client: AsyncClient
        try:
            if cluster:
                client = redis.asyncio.RedisCluster.from_url(
                    url,
                    socket_connect_timeout=timeout,
                    socket_timeout=timeout,
                    retry=redis.asyncio.retry.Retry(NoBackoff(), 1),
                )
            else:
                # No socket_timeout (None, not left out: redis-py would use
                # its default of 5 s): redis-py enforces it with asyncio.wait_for
                # on every send, an extra task and loop turn per command (about
                # 7% of a Redis-backed request's CPU in the benchmark).
                # `execute` enforces the same limit once per operation instead.
                client = redis.asyncio.Redis.from_url(
                    url,
                    socket_connect_timeout=timeout,
                    socket_timeout=None,
                    retry=redis.asyncio.retry.Retry(
                        NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)
                    ),
                )
        except ValueError as exc:
            raise _bad_url(exc) from None
        except _FAILURES as exc:
            raise _failure("connect", exc) from exc
        store = cls(client, prefix=prefix)
        store._owns_client = True
        if not cluster:
            store._deadline = timeout
        return store

    @property
    def client(self) -> AsyncClient:
        """The redis-py asyncio client the store uses."""
        return self._client

    @property
    def prefix(self) -> str:
        """The key prefix."""
        return self._prefix

    async def execute(self, op: Op) -> Result:
        """Carry out `op` (see `satchel.AsyncStore`) in one round trip.

        Raises:
            StoreError: Redis could not be reached, timed out or answered
                with an error.

        """
        if self._deadline is None:
            return await self._execute(op)
        try:
            async with asyncio.timeout(self._deadline):
                return await self._execute(op)
        except TimeoutError:
            # Cancelled mid-command: redis-py drops that connection, so no
            # late reply can be read by the next command. Reported as the
            # socket timeout it replaces, as the synchronous store reports it.
            cause = redis.exceptions.TimeoutError(f"no reply within {self._deadline} s")
            raise _failure(_action(op), cause) from cause

    async def _execute(self, op: Op) -> Result:
        key = _redis_key(self._prefix, _op_key(op))
        try:
            match op:
                case Load():
                    try:
                        return _loaded(await self._client.get(key))
                    except redis.exceptions.ResponseError as exc:
                        if _is_wrong_type(exc):
                            return _CORRUPT
                        raise
                case Save(expected_revision=None):
                    created = await self._client.set(
                        key, _stored(op.new_revision, op.value), nx=True, px=_ttl_ms(op.ttl)
                    )
                    return Saved(revision=op.new_revision) if created else Conflict()
                case Save():
                    written = await self._update(keys=[key], args=_update_args(op))
                    return Saved(revision=op.new_revision) if written == 1 else Conflict()
                case Delete():
                    await self._client.delete(key)
                    return Deleted()
        except _FAILURES as exc:
            raise _failure(_action(op), exc) from exc

    async def aclose(self) -> None:
        """Close the client if `from_url` built it; a client you passed in is yours to close."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncRedisStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncRedisStore({type(self._client).__name__}, prefix={self._prefix!r})"
