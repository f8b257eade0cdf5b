"""What both flavours of the Redis store share: the layout, the script, the
commands each op sends, the error mapping and the argument checks.

Each session is one key, ``prefix + "{" + store key + "}"``, holding a
nine-byte header (a format byte and the revision) followed by the record's
bytes, with a native expiry set from the `Save`'s TTL. A load is one ``GET``;
a create is one ``SET ... NX PX``; an update is one ``EVALSHA`` of a short Lua
script that compares the stored revision and writes in the same step; a delete
is one ``DEL``. Redis expires keys itself, so there is no ``sweep``.

Sessions with an owner are also filed in the owner's index, a sorted set
(``prefix + "owner:{" + SHA-256 of the owner + "}"``) of store keys scored by
their expiry. On one server each op of an owned session is one ``EVALSHA`` of
a script that keeps the session and the index in step; on a Redis Cluster the
two live in different slots, and the store runs the steps in the order
docs/stores/redis.md argues for.
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


# -- the owner index ------------------------------------------------------------------


# --8<-- [start:owner-layout]
def owner_key(prefix: str, owner: str) -> str:
    # One sorted set per owner: member = the store key, score = the record's
    # expires_at. The owner is hashed, so any owner string makes a safe key
    # and its bytes are not stored in the key; the braces make the hash the
    # Redis Cluster hash tag, so the whole index lives in one slot.
    digest = hashlib.sha256(owner.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{prefix}owner:{{{digest}}}"


# --8<-- [end:owner-layout]

# --8<-- [start:owner-scripts]
# Shared by the scripts that write to an index: its own expiry is kept at
# least as long as its longest-lived member's, so an abandoned owner's index
# disappears with its last session. PTTL answers -1 (no expiry) or -2 (no
# key), both below any TTL.
_KEEP_FOR: Final = """
local function keep_for(index, ms)
  if redis.call('PTTL', index) < tonumber(ms) then
    redis.call('PEXPIRE', index, ms)
  end
end
"""

# Shared by the scripts that end sessions of an owner: the entries to end,
# as member, score, member, score, ...: every one, or just `only` ("" for
# every one) if it is a member.
_TO_END: Final = """
local function to_end(index, only)
  if only == '' then
    return redis.call('ZRANGE', index, 0, -1, 'WITHSCORES')
  end
  local score = redis.call('ZSCORE', index, only)
  if score then
    return {only, score}
  end
  return {}
end
"""

# One server: each op of an owned session is one of these scripts, so the
# session and its index change in one atomic step. The session keys of other
# members are built inside the script from the prefix (ARGV[1]); Redis allows
# that outside a cluster.

# A create with an owner. KEYS: the session, the index. ARGV: prefix, store
# key, value, TTL (ms), expires_at, now, max_owned (0: no cap). Answers 1
# when created, 0 (nothing changed) when the session key exists.
OWNED_CREATE_SCRIPT: Final = (
    _KEEP_FOR
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local index, prefix, room = KEYS[2], ARGV[1], tonumber(ARGV[7])
redis.call('ZREMRANGEBYSCORE', index, '-inf', ARGV[6])
if room > 0 and redis.call('ZCARD', index) >= room then
  for _, member in ipairs(redis.call('ZRANGE', index, 0, -1)) do
    if redis.call('EXISTS', prefix .. '{' .. member .. '}') == 0 then
      redis.call('ZREM', index, member)
    end
  end
  local over = redis.call('ZCARD', index) - room + 1
  if over > 0 then
    for _, member in ipairs(redis.call('ZRANGE', index, 0, over - 1)) do
      redis.call('DEL', prefix .. '{' .. member .. '}')
      redis.call('ZREM', index, member)
    end
  end
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
redis.call('ZADD', index, ARGV[5], ARGV[2])
keep_for(index, ARGV[4])
return 1
"""
)

# An update with an owner: the compare-and-set of UPDATE_SCRIPT, then the
# member's score follows the new expiry. KEYS: the session, the index.
# ARGV: header, value, TTL (ms), store key, expires_at.
OWNED_UPDATE_SCRIPT: Final = (
    _KEEP_FOR
    + """
local head = redis.pcall('GETRANGE', KEYS[1], 0, #ARGV[1] - 1)
if head ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
keep_for(KEYS[2], ARGV[3])
return 1
"""
)

# A delete with an owner. KEYS: the session, the index. ARGV: store key.
OWNED_DELETE_SCRIPT: Final = """
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""

# ListOwned. KEYS: the index. ARGV: prefix, now. Answers store key, stored
# value, store key, stored value, ... of the live members; entries that
# expired by `now` or whose session key is gone are dropped on the way.
LIST_SCRIPT: Final = """
local index, prefix = KEYS[1], ARGV[1]
redis.call('ZREMRANGEBYSCORE', index, '-inf', ARGV[2])
local found = {}
for _, member in ipairs(redis.call('ZRANGE', index, 0, -1)) do
  local value = redis.pcall('GET', prefix .. '{' .. member .. '}')
  if type(value) == 'string' then
    found[#found + 1] = member
    found[#found + 1] = value
  elseif not value then
    redis.call('ZREM', index, member)
  end
end
return found
"""

# EndOwned. KEYS: the index. ARGV: prefix, now, keep ("" for none), only
# ("" for all). Deletes the members' session keys and entries; answers how
# many of the deleted keys were live at `now`.
END_SCRIPT: Final = (
    _TO_END
    + """
local index, prefix, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
local members = to_end(index, ARGV[4])
local ended = 0
for i = 1, #members, 2 do
  local member = members[i]
  if member ~= ARGV[3] then
    local gone = redis.call('DEL', prefix .. '{' .. member .. '}')
    if gone == 1 and tonumber(members[i + 1]) > now then
      ended = ended + 1
    end
    redis.call('ZREM', index, member)
  end
end
return ended
"""
)
# --8<-- [end:owner-scripts]

# --8<-- [start:cluster-scripts]
# Redis Cluster: the index is in its owner's slot and each session in its
# own, so no script may touch both. These scripts touch the index alone, and
# the store sends the session commands around them (docs/stores/redis.md has
# the order and why it is safe). An entry scored -inf is "doomed": its
# session is being ended by an "end all" or a cap; it is never counted or
# listed, never pruned, and removed once its session key has been deleted.

# File a member. KEYS: the index. ARGV: store key, expires_at, TTL (ms),
# now, "create" or "update", max_owned (0: no cap). A create dooms the
# owner's earliest-expiring entries beyond max_owned - 1 and answers them;
# an update leaves a doomed member doomed.
CLUSTER_FILE_SCRIPT: Final = (
    _KEEP_FOR
    + """
local index, member = KEYS[1], ARGV[1]
redis.call('ZREMRANGEBYSCORE', index, '(-inf', ARGV[4])
local doomed = {}
if ARGV[5] == 'update' then
  if redis.call('ZSCORE', index, member) == '-inf' then
    return doomed
  end
else
  redis.call('ZREM', index, member)
  local room = tonumber(ARGV[6])
  if room > 0 then
    local over = redis.call('ZCOUNT', index, '(-inf', '+inf') - room + 1
    if over > 0 then
      doomed = redis.call('ZRANGEBYSCORE', index, '(-inf', '+inf', 'LIMIT', 0, over)
      for _, victim in ipairs(doomed) do
        redis.call('ZADD', index, '-inf', victim)
      end
    end
  end
end
redis.call('ZADD', index, ARGV[2], member)
keep_for(index, ARGV[3])
return doomed
"""
)

# The live members. KEYS: the index. ARGV: now. Prunes expired entries.
CLUSTER_LIVE_SCRIPT: Final = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '(-inf', ARGV[1])
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
"""

# Doom the members an EndOwned ends. KEYS: the index. ARGV: now, keep ("" for
# none), only ("" for all). Answers store key, 1 if live at `now` else 0, ...
CLUSTER_DOOM_SCRIPT: Final = (
    _TO_END
    + """
local index, now = KEYS[1], tonumber(ARGV[1])
local members = to_end(index, ARGV[3])
local taken = {}
for i = 1, #members, 2 do
  local member, score = members[i], members[i + 1]
  if member ~= ARGV[2] then
    taken[#taken + 1] = member
    taken[#taken + 1] = (score ~= '-inf' and tonumber(score) > now) and 1 or 0
    redis.call('ZADD', index, '-inf', member)
  end
end
return taken
"""
)
# --8<-- [end:cluster-scripts]


# -- the commands, and what their replies mean -------------------------------------


def sha1(script: str) -> str:
    """The script's hash, as ``EVALSHA`` names it (what redis-py's `Script` computes)."""
    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()


UPDATE_SHA: Final = sha1(UPDATE_SCRIPT)
OWNED_CREATE_SHA: Final = sha1(OWNED_CREATE_SCRIPT)
OWNED_UPDATE_SHA: Final = sha1(OWNED_UPDATE_SCRIPT)
OWNED_DELETE_SHA: Final = sha1(OWNED_DELETE_SCRIPT)
LIST_SHA: Final = sha1(LIST_SCRIPT)
END_SHA: Final = sha1(END_SCRIPT)
CLUSTER_FILE_SHA: Final = sha1(CLUSTER_FILE_SCRIPT)
CLUSTER_LIVE_SHA: Final = sha1(CLUSTER_LIVE_SCRIPT)
CLUSTER_DOOM_SHA: Final = sha1(CLUSTER_DOOM_SCRIPT)

SCRIPTS: Final = {
    sha1(script): script
    for script in (
        UPDATE_SCRIPT,
        OWNED_CREATE_SCRIPT,
        OWNED_UPDATE_SCRIPT,
        OWNED_DELETE_SCRIPT,
        LIST_SCRIPT,
        END_SCRIPT,
        CLUSTER_FILE_SCRIPT,
        CLUSTER_LIVE_SCRIPT,
        CLUSTER_DOOM_SCRIPT,
    )
}
"""Every script the stores send, by its hash."""

Command = tuple[Any, ...]
"""A command's name and arguments: bytes, str or int each."""


def script_load(args: Command) -> Command:
    """The ``SCRIPT LOAD`` of the script an ``EVALSHA`` command names."""
    return (b"SCRIPT", b"LOAD", SCRIPTS[args[1]])


def command(prefix: str, op: Op) -> Command:
    """The one command that carries out `op` on a single server."""
    match op:
        case Save(owner=str(owner), expected_revision=None):
            return (
                "EVALSHA",
                OWNED_CREATE_SHA,
                2,
                redis_key(prefix, op.key),
                owner_key(prefix, owner),
                prefix,
                op.key,
                stored(op.new_revision, op.value),
                ttl_ms(op.ttl),
                op.expires_at,
                op.now,
                op.max_owned or 0,
            )
        case Save(owner=str(owner)):
            return (
                "EVALSHA",
                OWNED_UPDATE_SHA,
                2,
                redis_key(prefix, op.key),
                owner_key(prefix, owner),
                *update_args(op),
                op.key,
                op.expires_at,
            )
        case Delete(owner=str(owner)):
            return (
                "EVALSHA",
                OWNED_DELETE_SHA,
                2,
                redis_key(prefix, op.key),
                owner_key(prefix, owner),
                op.key,
            )
        case Load() | Save() | Delete():
            return session_command(prefix, op)
        case ListOwned():
            return ("EVALSHA", LIST_SHA, 1, owner_key(prefix, op.owner), prefix, op.now)
        case EndOwned():
            return (
                "EVALSHA",
                END_SHA,
                1,
                owner_key(prefix, op.owner),
                prefix,
                op.now,
                op.keep or "",
                op.only or "",
            )
    raise TypeError(f"not a store operation: {type(op).__name__}")


# --8<-- [start:command]
def session_command(prefix: str, op: Load | Save | Delete) -> Command:
    """The one command on the session's key that carries out `op`; a
    session with an owner adds its index to it (`command`).
    """
    key = redis_key(prefix, op.key)
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
    raise AssertionError(op)  # pragma: no cover - the union is closed


def answer(op: Op, reply: object) -> Result:
    """What the reply to `command(op)` (or `session_command(op)`) means."""
    match op:
        case Load():
            return loaded(reply)
        case Save(expected_revision=None) if reply is None or reply == 0:
            return Conflict()  # SET NX, or the owned create, wrote nothing
        case Save(expected_revision=int()) if reply != 1:
            return Conflict()
        case Save():
            return Saved(revision=op.new_revision)
        case ListOwned():
            return owned(reply)
        case EndOwned():
            return Ended(count=count(reply))
    return Deleted()


# --8<-- [end:command]


def owned(reply: object) -> Owned:
    """The `Owned` for a flat list of store keys and stored values (or
    ``None`` for a key that is gone); values not in this format are left out.
    """
    if not isinstance(reply, list) or len(reply) % 2:
        raise StoreError(f"redis store failed: ListOwned: the reply was {type(reply).__name__}")
    records = []
    for member, raw in zip(reply[::2], reply[1::2], strict=True):
        if raw is None:
            continue
        record = loaded(raw)
        if isinstance(record, Loaded) and record is not CORRUPT:
            key = member.decode() if isinstance(member, bytes) else str(member)
            records.append((key, record.value))
    return Owned(records=tuple(records))


def count(reply: object) -> int:
    if not isinstance(reply, int):
        raise StoreError(f"redis store failed: EndOwned: the reply was {type(reply).__name__}")
    return reply


# -- the owner index on a Redis Cluster: the steps around the scripts ----------------


def is_owned(op: Op) -> bool:
    """Whether `op` reads or writes an owner index."""
    if isinstance(op, Save | Delete):
        return op.owner is not None
    return isinstance(op, ListOwned | EndOwned)


def file_args(op: Save) -> list[Any]:
    """`CLUSTER_FILE_SCRIPT`'s arguments for a save of an owned session."""
    mode = "create" if op.expected_revision is None else "update"
    # The index is written before the session, so it is given a second more
    # than the session's TTL to be sure to outlive it.
    keep = ttl_ms(op.ttl) + 1000
    return [op.key, op.expires_at, keep, op.now, mode, op.max_owned or 0]


def doom_args(op: EndOwned) -> list[Any]:
    """`CLUSTER_DOOM_SCRIPT`'s arguments."""
    return [op.now, op.keep or "", op.only or ""]


def members(reply: object) -> list[str]:
    """Store keys, from a script's list of index members."""
    if not isinstance(reply, list):
        raise StoreError(f"redis store failed: the reply was {type(reply).__name__}")
    return [member.decode() for member in reply if isinstance(member, bytes)]


def doomed_pairs(reply: object) -> list[tuple[str, bool]]:
    """``(store key, live)`` of each entry `CLUSTER_DOOM_SCRIPT` doomed."""
    keys = members(reply)
    flags = reply[1::2] if isinstance(reply, list) else []
    return list(zip(keys, [flag == 1 for flag in flags], strict=True))


def is_filed(score: object) -> bool:
    """Whether a member's ``ZSCORE`` says it is in the index and not doomed."""
    return isinstance(score, float | int) and score != -math.inf


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
