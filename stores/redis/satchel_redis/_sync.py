"""Generated from ``_async.py`` by ``stores/unasync.py``: do not edit."""

from __future__ import annotations

from types import TracebackType
from typing import Any, ClassVar, final

import redis
import redis.exceptions
import redis.retry
from redis.backoff import NoBackoff

from satchel import Conflict, Delete, Deleted, Ended, EndOwned, ListOwned, Load, Op, Result, Save

from ._shared import (
    CLUSTER_DOOM_SHA,
    CLUSTER_FILE_SHA,
    CLUSTER_LIVE_SHA,
    DEFAULT_PREFIX,
    DEFAULT_TIMEOUT,
    FAILURES,
    SCRIPTS,
    Command,
    Lane,
    OperationTimer,
    SyncClient,
    action,
    answer,
    bad_url,
    check_flags,
    check_prefix,
    check_sync_client,
    check_timeout,
    check_url,
    command,
    doom_args,
    doomed_pairs,
    failure,
    file_args,
    is_filed,
    is_owned,
    is_wrong_type,
    members,
    owned,
    owner_key,
    redis_key,
    script_load,
    session_command,
    sync_deadline,
)

__all__ = ["RedisStore"]


# --8<-- [start:lane]
@final
class _SyncLane(Lane):
    """One send and one read per round trip, on redis-py's own connections.

    redis-py's command path (``execute_command``) takes a connection from
    the pool and checks it for unread data, looks up a reply callback and
    gives the connection back, on every command. Here a connection stays
    with the store between operations; redis-py still connects it (TLS,
    AUTH, RESP3, the database), packs the command, reads and parses the
    reply and raises its own errors.
    """

    __slots__ = ("_pool",)

    def __init__(self, pool: redis.ConnectionPool) -> None:
        super().__init__()
        self._pool = pool

    def call(self, args: Command) -> Any:
        try:
            conn = self.idle.pop()
        except IndexError:
            conn = self._pool.get_connection()  # type: ignore[no-untyped-call, unused-ignore]
        try:
            packed = conn.pack_command(*args)
            try:
                reply = self._round_trip(conn, packed)
            except redis.exceptions.NoScriptError:
                # The server lost its script cache (a restart, SCRIPT FLUSH):
                # load the script and ask again, as redis-py's Script does.
                self._round_trip(conn, conn.pack_command(*script_load(args)))
                reply = self._round_trip(conn, packed)
        except redis.exceptions.ResponseError:
            # An error reply was read whole: the connection is still in step.
            self.idle.append(conn)
            raise
        except BaseException:
            # Anything else (a broken connection, a cancellation) may leave a
            # reply unread: the connection goes back to the pool closed.
            conn.disconnect(nowait=True)
            self._pool.release(conn)
            raise
        self.idle.append(conn)
        return reply

    @staticmethod
    def _round_trip(conn: Any, packed: list[bytes]) -> Any:
        try:
            conn.send_packed_command(packed)
            return conn.read_response()
        except redis.exceptions.ConnectionError:
            # As from_url's client does: once more at once, on a fresh
            # connection (an idle one may have outlived a server restart).
            conn.disconnect(nowait=True)
            conn.send_packed_command(packed)
            return conn.read_response()

    def close(self) -> None:
        while self.idle:
            self._pool.release(self.idle.pop())


# --8<-- [end:lane]


@final
class RedisStore:
    """A store in Redis, for synchronous code (`satchel.Store`).

    Wraps a client you built (a `redis.Redis`, including one from a
    `redis.sentinel.Sentinel`, with TLS or auth as you configured it,
    or a `redis.RedisCluster`), or one `from_url` builds. The store
    is as safe to share as the client: redis-py's clients are.

    Args:
        client: the redis-py asyncio client, built with ``decode_responses=False``.
        prefix: put before every key; must not contain ``{`` or ``}``.

    Raises:
        ConfigurationError: `client` is not a synchronous redis-py client or
            decodes responses, or `prefix` is invalid.

    """

    __slots__ = ("_client", "_cluster", "_deadline", "_lane", "_owns_client", "_prefix", "_scripts")

    owner_index: ClassVar[bool] = True
    """It keeps an owner index: sessions can be listed and ended by owner."""

    def __init__(self, client: SyncClient, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._prefix = check_prefix(prefix)
        self._client = check_sync_client(client)
        # Script hashes the text once; calls send EVALSHA and fall back to
        # SCRIPT LOAD only if the server has lost its script cache.
        self._scripts = {sha: client.register_script(text) for sha, text in SCRIPTS.items()}
        # A cluster keeps an owner's index and its sessions in different slots.
        self._cluster = client if isinstance(client, redis.RedisCluster) else None
        self._owns_client = False
        # Set by from_url for a single server: the lean path.
        self._lane: _SyncLane | None = None
        # Set by from_url: the reply timeout, enforced per operation.
        self._deadline: OperationTimer | None = None

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
        a timeout is not retried. Closing the store closes the client.

        Nothing is connected here by the asyncio client, not even for a
        cluster (it reads its slot map on first use), so this may be called
        before the event loop runs.

        Args:
            url: where the server is; with ``cluster=True``, any one node.
            prefix: put before every key; must not contain ``{`` or ``}``.
            timeout: seconds to wait for a connection and for each reply.
            cluster: build a Redis Cluster client. The synchronous one reads
                the cluster's slot map now, so the cluster must be reachable.

        Raises:
            ConfigurationError: an argument is invalid.
            StoreError: ``cluster=True`` and no node could be reached.

        """
        prefix = check_prefix(prefix)
        timeout = check_timeout(timeout)
        url = check_url(url)
        cluster = check_flags(cluster)
        client: SyncClient
        try:
            if cluster:
                client = redis.RedisCluster.from_url(
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
                    socket_timeout=sync_deadline.socket_timeout(timeout),
                    retry=redis.retry.Retry(
                        NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)
                    ),
                )
        except ValueError as exc:
            raise bad_url(exc) from None
        except FAILURES as exc:
            raise failure("connect", exc) from exc
        store = cls(client, prefix=prefix)
        store._owns_client = True
        if isinstance(client, redis.Redis):
            store._lane = _SyncLane(client.connection_pool)
            store._deadline = sync_deadline.per_operation(timeout)
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
        """Carry out `op` (see `satchel.Store`) in one round trip; on a
        Redis Cluster, an op of a session with an owner, or of an owner's
        index, takes a few (docs/stores/redis.md, "Owner index").

        Raises:
            StoreError: Redis could not be reached, timed out or answered
                with an error.

        """
        on_cluster = self._cluster is not None and is_owned(op)
        args = () if on_cluster else command(self._prefix, op)
        try:
            with sync_deadline.limit(self._deadline):
                if on_cluster:
                    return self._on_cluster(op)
                reply = self._send(args)
        except TimeoutError as exc:
            if self._deadline is None:
                raise failure(action(op), exc) from exc
            # Cancelled mid-command: that connection was closed, so no late
            # reply can be read by the next command. Reported as the socket
            # timeout it replaces.
            cause = redis.exceptions.TimeoutError(f"no reply within {self._deadline.seconds} s")
            raise failure(action(op), cause) from cause
        except redis.exceptions.ResponseError as exc:
            if isinstance(op, Load) and is_wrong_type(exc):
                # A key of another type: not in this format.
                return answer(op, b"")
            raise failure(action(op), exc) from exc
        except FAILURES as exc:
            raise failure(action(op), exc) from exc
        return answer(op, reply)

    def _send(self, args: Command) -> Any:
        if self._lane is not None:
            return self._lane.call(args)
        if args[0] == "EVALSHA":
            # Through redis-py's Script, which routes it on a cluster.
            _, sha, keys, *rest = args
            return self._scripts[sha](keys=rest[:keys], args=rest[keys:])
        return self._client.execute_command(*args)  # type: ignore[no-untyped-call, unused-ignore]

    # --8<-- [end:execute]

    # --8<-- [start:cluster]
    def _on_cluster(self, op: Op) -> Result:
        """Carry out an op of the owner index on a Redis Cluster.

        The index and each session are in different slots, so no one script
        can touch both: the steps are ordered so that a live session is never
        missing from its owner's index and "end all" leaves none of the
        sessions it found (docs/stores/redis.md, "On a Redis Cluster").
        """
        cluster = self._cluster
        assert cluster is not None
        prefix = self._prefix
        match op:
            case Save(owner=str(owner)):
                index = owner_key(prefix, owner)
                # The index first: the key is filed before it exists.
                doomed = members(self._script(CLUSTER_FILE_SHA, index, file_args(op)))
                self._end(cluster, index, [(key, False) for key in doomed])
                result = answer(op, self._send(session_command(prefix, op)))
                if op.expected_revision is not None or isinstance(result, Conflict):
                    return result
                # An "end all" or a cap that ran between the filing and the
                # SET took the entry, and may have deleted the key before it
                # existed: the new key goes too, and the exchange creates the
                # session again under a new ID, after that "end all".
                score = cluster.execute_command("ZSCORE", index, op.key)  # type: ignore[no-untyped-call, unused-ignore]
                if not is_filed(score):
                    cluster.delete(redis_key(prefix, op.key))
                    return Conflict()
                return result
            case Delete(owner=str(owner)):
                # The session first: an entry without its session is harmless.
                cluster.delete(redis_key(prefix, op.key))
                cluster.execute_command("ZREM", owner_key(prefix, owner), op.key)  # type: ignore[no-untyped-call, unused-ignore]
                return Deleted()
            case ListOwned():
                index = owner_key(prefix, op.owner)
                live = members(self._script(CLUSTER_LIVE_SHA, index, [op.now]))
                if not live:
                    return owned([])
                values = cluster.mget_nonatomic([redis_key(prefix, key) for key in live])
                return owned([part for pair in zip(live, values, strict=True) for part in pair])
            case EndOwned():
                index = owner_key(prefix, op.owner)
                taken = self._script(CLUSTER_DOOM_SHA, index, doom_args(op))
                return Ended(count=self._end(cluster, index, doomed_pairs(taken)))
        raise AssertionError(op)  # pragma: no cover - is_owned accepted only these

    def _script(self, sha: str, index: str, args: list[Any]) -> Any:
        return self._scripts[sha](keys=[index], args=args)

    def _end(self, cluster: redis.RedisCluster, index: str, doomed: list[tuple[str, bool]]) -> int:
        """Delete the sessions of doomed entries, then the entries; answer how
        many of them were live (the flag) and existed.
        """
        if not doomed:
            return 0
        ended = 0
        for live in (True, False):
            keys = [key for key, flag in doomed if flag is live]
            if keys:
                gone = cluster.delete(*(redis_key(self._prefix, key) for key in keys))
                ended += gone if live else 0
        cluster.execute_command("ZREM", index, *(key for key, _ in doomed))  # type: ignore[no-untyped-call, unused-ignore]
        return ended

    # --8<-- [end:cluster]

    def close(self) -> None:
        """Close the client if `from_url` built it; a client you passed in is yours to close."""
        if self._lane is not None:
            self._lane.close()
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
