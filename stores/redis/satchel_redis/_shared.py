"""What both flavours of the Redis store share: the layout, the script, the
commands each op sends, the error mapping and the argument checks.

Each session is one key, ``prefix + "{" + store key + "}"``, holding a
nine-byte header (a format byte and the revision) followed by the record's
bytes, with a native expiry set from the `Save`'s TTL. A load is one ``GET``;
a create is one ``SET ... NX PX``; an update is one ``EVALSHA`` of a short Lua
script that compares the stored revision and writes in the same step; a delete
is one ``DEL``. Redis expires keys itself, so there is no ``sweep``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import struct
import weakref
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from types import TracebackType
from typing import Any, Final, final

import redis
import redis.asyncio
import redis.cluster
import redis.exceptions

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
HEADER: Final = struct.Struct(">BQ")
FORMAT: Final = 1

# What a load answers for a key that is not in this format (too short, an
# unknown format byte, another Redis type): no record format accepts empty
# bytes, so the core starts a fresh session under a new ID and deletes the key.
CORRUPT: Final = Loaded(value=b"", revision=0)


def redis_key(prefix: str, key: str) -> str:
    # The braces make the store key the Redis Cluster hash tag: the slot
    # depends on the session alone, never on the prefix.
    return f"{prefix}{{{key}}}"


def stored(revision: int, value: bytes) -> bytes:
    return HEADER.pack(FORMAT, revision) + value


def loaded(raw: object) -> Result:
    if raw is None:
        return Missing()
    if not isinstance(raw, bytes):
        raise StoreError(f"redis store failed: Load: the reply was {type(raw).__name__}, not bytes")
    if len(raw) < HEADER.size or raw[0] != FORMAT:
        return CORRUPT
    _, revision = HEADER.unpack_from(raw)
    return Loaded(value=raw[HEADER.size :], revision=revision)


def ttl_ms(ttl: float) -> int:
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
UPDATE_SCRIPT: Final = """
local head = redis.pcall('GETRANGE', KEYS[1], 0, #ARGV[1] - 1)
if head ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""
# --8<-- [end:script]


def update_args(op: Save) -> list[bytes | int]:
    assert op.expected_revision is not None
    return [
        HEADER.pack(FORMAT, op.expected_revision),
        stored(op.new_revision, op.value),
        ttl_ms(op.ttl),
    ]


# --8<-- [start:errors]
# Everything redis-py raises for a failed command or connection.
# RedisClusterException (no slots, no reachable node) is not a RedisError.
FAILURES: Final = (redis.exceptions.RedisError, redis.exceptions.RedisClusterException, OSError)

# These messages hold an address at most. Others (a server's error reply)
# could echo a command's arguments, so only their type is passed on.
TRANSPORT: Final = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def failure(action: str, exc: BaseException) -> StoreError:
    detail = f": {exc}" if isinstance(exc, TRANSPORT) and str(exc) else ""
    return StoreError(f"redis store failed: {action}: {type(exc).__name__}{detail}")


def is_wrong_type(exc: redis.exceptions.ResponseError) -> bool:
    return str(exc).startswith("WRONGTYPE")


# --8<-- [end:errors]


def op_key(op: Op) -> str:
    if not isinstance(op, Load | Save | Delete):
        raise TypeError(f"not a store operation: {type(op).__name__}")
    return op.key


def action(op: Op) -> str:
    if isinstance(op, Save):
        return "Save (create)" if op.expected_revision is None else "Save (update)"
    return type(op).__name__


# -- validation ---------------------------------------------------------------------


def check_prefix(prefix: object) -> str:
    if not isinstance(prefix, str):
        raise ConfigurationError(f"prefix: must be a str, got {type(prefix).__name__}")
    if "{" in prefix or "}" in prefix:
        raise ConfigurationError(
            f"prefix: must not contain '{{' or '}}' (got {prefix!r}); the braces around "
            "each session's key are its Redis Cluster hash tag"
        )
    return prefix


def check_timeout(timeout: object) -> float:
    return check_seconds("timeout", timeout)


def check_url(url: object) -> str:
    if not isinstance(url, str):
        raise ConfigurationError(f"url: must be a str, got {type(url).__name__}")
    return url


def check_flags(cluster: object) -> bool:
    if not isinstance(cluster, bool):
        raise ConfigurationError(f"cluster: must be True or False, got {cluster!r}")
    return cluster


def check_decoding(client: SyncClient | AsyncClient) -> None:
    if client.get_encoder().decode_responses:
        raise ConfigurationError(
            "client: must be built with decode_responses=False; session records are bytes"
        )


def check_sync_client(client: object) -> SyncClient:
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
    check_decoding(client)
    return client


def check_async_client(client: object) -> AsyncClient:
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
    check_decoding(client)
    return client


def bad_url(exc: Exception) -> ConfigurationError:
    # redis-py's URL errors describe the scheme or option, never the URL
    # itself (which may hold a password), so they are safe to repeat.
    return ConfigurationError(f"url: {exc}")


# -- the commands, and what their replies mean -------------------------------------

UPDATE_SHA: Final = hashlib.sha1(UPDATE_SCRIPT.encode(), usedforsecurity=False).hexdigest()
"""The script's hash, as ``EVALSHA`` names it (what redis-py's `Script` computes)."""

SCRIPT_LOAD: Final = (b"SCRIPT", b"LOAD", UPDATE_SCRIPT)

Command = tuple[Any, ...]
"""A command's name and arguments: bytes, str or int each."""


# --8<-- [start:command]
def command(prefix: str, op: Op) -> Command:
    """The one command that carries out `op`."""
    key = redis_key(prefix, op_key(op))
    match op:
        case Load():
            return ("GET", key)
        case Save(expected_revision=None):
            # SET NX is Redis's own add-if-absent: a live key, of any type,
            # makes it a conflict. An expired key is gone.
            return ("SET", key, stored(op.new_revision, op.value), b"NX", b"PX", ttl_ms(op.ttl))
        case Save():
            return ("EVALSHA", UPDATE_SHA, 1, key, *update_args(op))
        case Delete():
            return ("DEL", key)
    raise AssertionError(op)  # pragma: no cover - op_key accepted only these


def answer(op: Op, reply: object) -> Result:
    """What the reply to `command(op)` means."""
    match op:
        case Load():
            return loaded(reply)
        case Save(expected_revision=None):
            return Saved(revision=op.new_revision) if reply is not None else Conflict()
        case Save():
            return Saved(revision=op.new_revision) if reply == 1 else Conflict()
    return Deleted()


# --8<-- [end:command]


# -- connections held between operations -------------------------------------------

_LANES: Final[weakref.WeakSet[Lane]] = weakref.WeakSet()


class Lane:
    """The connections a store holds between operations.

    Each came from the client's pool and goes back to it when it fails or
    the store closes. Only a connection whose last reply was read whole is
    kept, so none can hold a reply another command would read.
    """

    __slots__ = ("__weakref__", "idle")

    def __init__(self) -> None:
        self.idle: list[Any] = []
        _LANES.add(self)


def _forget_in_child() -> None:
    # A forked child shares its parent's sockets; redis-py's synchronous pool
    # starts afresh in a child, and so do the stores.
    for lane in list(_LANES):
        lane.idle = []


os.register_at_fork(after_in_child=_forget_in_child)


# -- where the two flavours wait differently ----------------------------------------


@final
class OperationTimer:
    """Fails the asyncio store's operations still running `seconds` after
    they began, with one event-loop timer for all of them.

    `asyncio.timeout` schedules and cancels a timer per operation, and the
    cancelled timers stay in the loop's heap until they would have fired:
    about 6 µs an operation under load, against 1 µs here. The timer here
    fires at the earliest deadline of the operations running when it was
    set; those that finished are skipped, and it is set again for the
    earliest one left.
    """

    __slots__ = ("_handle", "_loop", "_running", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._running: dict[_Operation, float] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _start(self, operation: _Operation, loop: asyncio.AbstractEventLoop) -> None:
        deadline = loop.time() + self.seconds
        self._running[operation] = deadline
        # A timer set on another loop (a store used from a new loop) never fires here.
        if self._handle is None or self._loop is not loop:
            self._loop = loop
            self._handle = loop.call_at(deadline, self._expire)

    def _stop(self, operation: _Operation) -> None:
        self._running.pop(operation, None)

    def _expire(self) -> None:
        assert self._loop is not None
        self._handle = None
        now = self._loop.time()
        earliest: float | None = None
        for operation, deadline in list(self._running.items()):
            if deadline <= now:
                del self._running[operation]
                operation.expire()
            elif earliest is None or deadline < earliest:
                earliest = deadline
        if earliest is not None:
            self._handle = self._loop.call_at(earliest, self._expire)


@final
class _Operation:
    """One operation under an `OperationTimer`; raises `TimeoutError` as
    `asyncio.timeout` does if the timer cancelled it.
    """

    __slots__ = ("_cancelling", "_expired", "_task", "_timer")

    def __init__(self, timer: OperationTimer) -> None:
        self._timer = timer
        self._expired = False

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("the store's operations must run in an asyncio task")
        self._task = task
        self._cancelling = task.cancelling()
        self._timer._start(self, task.get_loop())

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._timer._stop(self)
        # The timer's cancellation is taken back in any case; it becomes a
        # TimeoutError unless the task was cancelled from outside as well.
        if (
            self._expired
            and self._task.uncancel() <= self._cancelling
            and exc_type is asyncio.CancelledError
        ):
            raise TimeoutError from exc

    def expire(self) -> None:
        self._expired = True
        self._task.cancel()


@final
class _AsyncDeadline:
    """The asyncio store's reply timeout: one limit per operation.

    redis-py enforces ``socket_timeout`` with `asyncio.wait_for` on every
    send, an extra task and loop turn per command (about 7% of a
    Redis-backed request's CPU in the benchmark), so the client is built
    without one and the store puts a limit around each whole operation
    instead (`OperationTimer`).
    """

    @staticmethod
    def socket_timeout(timeout: float) -> float | None:
        return None

    @staticmethod
    def per_operation(timeout: float) -> OperationTimer | None:
        return OperationTimer(timeout)

    @staticmethod
    def limit(timer: OperationTimer | None) -> AbstractAsyncContextManager[Any]:
        if timer is None:
            return contextlib.nullcontext()
        return _Operation(timer)


@final
class _SyncDeadline:
    """The synchronous store's reply timeout: the socket's, set once."""

    @staticmethod
    def socket_timeout(timeout: float) -> float | None:
        return timeout

    @staticmethod
    def per_operation(timeout: float) -> OperationTimer | None:
        return None

    @staticmethod
    def limit(timer: OperationTimer | None) -> AbstractContextManager[Any]:
        return contextlib.nullcontext()


async_deadline: Final = _AsyncDeadline()
sync_deadline: Final = _SyncDeadline()
