"""An in-process store: records in a dict, expiry in one-second buckets.

Meant for tests, development and single-process deployments. Records vanish
with the process. Every method takes one lock, so a store may be shared by
threads; the async flavour runs the same code directly on the event loop,
which is safe because nothing in it waits.
"""

from __future__ import annotations

import heapq
import math
import threading
from typing import ClassVar, TypeAlias, final

from ._errors import ConfigurationError, StoreError
from ._ops import (
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
)

__all__ = ["AsyncMemoryStore", "MemoryStore"]

# (value, revision, expires_at, owner): a tuple costs less than any object per record.
_Record: TypeAlias = tuple[bytes, int, float, str | None]
# Most buckets hold one key, so a lone key is stored bare and only a second
# key turns the bucket into a set (an empty set alone is over 200 bytes).
_Bucket: TypeAlias = str | set[str]

# Below this many buckets the heap is never rebuilt: rebuilding tiny heaps
# often would cost more than the stale entries it removes.
_HEAP_SLACK = 64


def _bucket_second(expires_at: float) -> int | None:
    """The bucket a record belongs in, or ``None`` if it never expires."""
    if not math.isfinite(expires_at):
        return None
    return math.floor(expires_at)


@final
class _MemoryEngine:
    """The shared implementation behind both flavours.

    Expiry index: ``_buckets`` maps a whole second ``s`` to the keys whose
    expiry lies in ``[s, s + 1)``; ``_heap`` holds bucket seconds, smallest
    first. A sweep pops buckets from the front of the heap, so it touches the
    expired records (plus at most the one bucket straddling ``now``) and never
    the live ones behind them.
    """

    __slots__ = (
        "_buckets",
        "_heap",
        "_lock",
        "_owners",
        "_records",
        "examined",
        "max_sessions",
    )

    def __init__(self, max_sessions: int | None) -> None:
        if max_sessions is not None and (
            not isinstance(max_sessions, int) or isinstance(max_sessions, bool) or max_sessions < 1
        ):
            raise ConfigurationError(
                f"max_sessions: must be a positive integer or None, got {max_sessions!r}"
            )
        self.max_sessions = max_sessions
        self._lock = threading.Lock()
        self._records: dict[str, _Record] = {}
        # The owner index: owner -> the keys saved with that owner.
        self._owners: dict[str, set[str]] = {}
        self._buckets: dict[int, _Bucket] = {}
        # May hold stale seconds (buckets since emptied, or pushed twice);
        # sweeps skip them and `_push_bucket` rebuilds the heap when they
        # outnumber the live buckets.
        self._heap: list[int] = []
        # Records the last sweep looked at; lets tests check that a sweep's
        # cost follows what it removes, without timing anything.
        self.examined = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def execute(self, op: Op) -> Result:
        with self._lock:
            match op:
                case Load():
                    record = self._records.get(op.key)
                    if record is None or record[2] <= op.now:
                        return Missing()
                    return Loaded(value=record[0], revision=record[1])
                case Save():
                    return self._save(op)
                case Delete():
                    self._remove(op.key)
                    return Deleted()
                case ListOwned():
                    return Owned(records=tuple(self._owned(op.owner, op.now)))
                case EndOwned():
                    return Ended(count=self._end_owned(op))
                case _:
                    raise TypeError(f"not a store operation: {type(op).__name__}")

    def sweep(self, now: float) -> int:
        with self._lock:
            return self._sweep(now)

    def _save(self, op: Save) -> Result:
        record = self._records.get(op.key)
        live = record is not None and record[2] > op.now
        if op.expected_revision is None:
            if live:
                return Conflict()
            if record is not None:
                self._remove(op.key)  # an expired record, not yet swept
                record = None
            if op.owner is not None and op.max_owned is not None:
                self._cap_owner(op.owner, op.max_owned, op.now)
            if self.max_sessions is not None:
                self._make_room(op.now, self.max_sessions)
        elif not live or record is None or record[1] != op.expected_revision:
            return Conflict()
        if record is None:
            self._index(op.key, op.expires_at)
            if op.owner is not None:
                self._owners.setdefault(op.owner, set()).add(op.key)
        elif _bucket_second(record[2]) != _bucket_second(op.expires_at):
            self._unindex(op.key, record[2])
            self._index(op.key, op.expires_at)
        revision = op.new_revision
        # A key keeps the owner it was created with.
        owner = op.owner if record is None else record[3]
        self._records[op.key] = (op.value, revision, op.expires_at, owner)
        return Saved(revision=revision)

    def _remove(self, key: str) -> _Record | None:
        record = self._records.pop(key, None)
        if record is not None:
            self._unindex(key, record[2])
            if record[3] is not None:
                self._unfile(record[3], key)
        return record

    def _unfile(self, owner: str, key: str) -> None:
        keys = self._owners.get(owner)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._owners[owner]

    def _owned(self, owner: str, now: float) -> list[tuple[str, bytes]]:
        owned = []
        for key in list(self._owners.get(owner, ())):
            record = self._records.get(key)
            if record is not None and record[2] > now:
                owned.append((key, record[0]))
        return owned

    def _end_owned(self, op: EndOwned) -> int:
        keys = self._owners.get(op.owner, set())
        if op.only is not None:
            keys = {op.only} & keys
        ended = 0
        for key in list(keys):
            if key == op.keep:
                continue
            record = self._remove(key)
            if record is not None and record[2] > op.now:
                ended += 1
        return ended

    def _cap_owner(self, owner: str, limit: int, now: float) -> None:
        """Make room for one more session of `owner`: end its least recently
        used live sessions (the earliest expiry) beyond ``limit - 1``.
        """
        keys = self._owners.get(owner)
        if keys is None or len(keys) < limit:
            return
        live = []
        for key in list(keys):
            record = self._records[key]
            if record[2] > now:
                live.append((record[2], key))
            else:
                self._remove(key)
        live.sort()
        for _, key in live[: max(0, len(live) - (limit - 1))]:
            self._remove(key)

    def _make_room(self, now: float, limit: int) -> None:
        if len(self._records) < limit:
            return
        self._sweep(now)
        if len(self._records) >= limit:
            # Refuse rather than evict: dropping a live session would log
            # someone out at random, and the adapter reports this error.
            raise StoreError(f"memory store full (max_sessions={limit})")

    def _index(self, key: str, expires_at: float) -> None:
        second = _bucket_second(expires_at)
        if second is None:
            return
        bucket = self._buckets.get(second)
        if bucket is None:
            self._buckets[second] = key
            self._push_bucket(second)
        elif isinstance(bucket, str):
            self._buckets[second] = {bucket, key}
        else:
            bucket.add(key)

    def _unindex(self, key: str, expires_at: float) -> None:
        second = _bucket_second(expires_at)
        if second is None:
            return
        bucket = self._buckets.get(second)
        if isinstance(bucket, str):
            if bucket == key:
                del self._buckets[second]
        elif bucket is not None:
            bucket.discard(key)
            if len(bucket) == 1:
                self._buckets[second] = bucket.pop()
            elif not bucket:
                del self._buckets[second]

    def _push_bucket(self, second: int) -> None:
        heap = self._heap
        if len(heap) > 2 * len(self._buckets) + _HEAP_SLACK:
            # Rebuilding costs O(buckets) and happens only after as many
            # pushes, so stale entries never cost more than a constant each.
            heap[:] = self._buckets
            heapq.heapify(heap)
        else:
            heapq.heappush(heap, second)

    def _sweep(self, now: float) -> int:
        heap, buckets, records = self._heap, self._buckets, self._records
        removed = examined = 0
        while heap and heap[0] <= now:
            second = heap[0]
            bucket = buckets.get(second)
            if bucket is None:
                heapq.heappop(heap)
                continue
            keys = (bucket,) if isinstance(bucket, str) else tuple(bucket)
            examined += len(keys)
            if second + 1 <= now:
                # Every expiry in the bucket is below second + 1 <= now.
                heapq.heappop(heap)
                del buckets[second]
                for key in keys:
                    owner = records.pop(key)[3]
                    if owner is not None:
                        self._unfile(owner, key)
                removed += len(keys)
                continue
            # The bucket straddles `now`: check each record; every later
            # bucket starts after `now`, so the sweep ends here.
            for key in keys:
                if records[key][2] <= now:
                    self._remove(key)
                    removed += 1
            break
        self.examined = examined
        return removed


@final
class MemoryStore:
    """A thread-safe in-process store (synchronous flavour).

    Records live in this process only, so it suits tests, development and
    single-process servers. Expired records are answered `Missing` at once
    but only freed by `sweep`, which the cleanup job calls.

    Args:
        max_sessions: the most records (live or not yet swept) the store
            holds, or ``None`` for no limit. A create that would go over it
            first sweeps, and if the store is still full raises `StoreError`
            instead of evicting anyone.

    Raises:
        ConfigurationError: `max_sessions` is not a positive integer or ``None``.

    """

    __slots__ = ("_engine",)

    owner_index: ClassVar[bool] = True
    """It keeps an owner index: sessions can be listed and ended by owner."""

    def __init__(self, *, max_sessions: int | None = None) -> None:
        self._engine = _MemoryEngine(max_sessions)

    @property
    def max_sessions(self) -> int | None:
        """The configured record limit, or ``None``."""
        return self._engine.max_sessions

    def __len__(self) -> int:
        """The number of records held, counting expired ones not yet swept."""
        return len(self._engine)

    def execute(self, op: Op) -> Result:
        """Carry out `op` (see `satchel.Store`).

        Raises:
            StoreError: a create found the store full (`max_sessions`).

        """
        return self._engine.execute(op)

    def sweep(self, now: float) -> int:
        """Free the records whose expiry is at or before `now`; return how many.

        Costs time in proportion to the records freed (plus at most one
        second's worth of expiries), not to the records held.
        """
        return self._engine.sweep(now)

    def __repr__(self) -> str:
        return f"MemoryStore(max_sessions={self.max_sessions!r})"


@final
class AsyncMemoryStore:
    """The asynchronous flavour of `MemoryStore`, with the same behaviour.

    Its coroutines never wait on anything (the work is in memory and the lock
    is held only for a dictionary update), so they run directly on the loop.

    Args:
        max_sessions: as for `MemoryStore`.

    Raises:
        ConfigurationError: `max_sessions` is not a positive integer or ``None``.

    """

    __slots__ = ("_engine",)

    owner_index: ClassVar[bool] = True
    """It keeps an owner index: sessions can be listed and ended by owner."""

    def __init__(self, *, max_sessions: int | None = None) -> None:
        self._engine = _MemoryEngine(max_sessions)

    @property
    def max_sessions(self) -> int | None:
        """The configured record limit, or ``None``."""
        return self._engine.max_sessions

    def __len__(self) -> int:
        """The number of records held, counting expired ones not yet swept."""
        return len(self._engine)

    async def execute(self, op: Op) -> Result:
        """Carry out `op` (see `satchel.AsyncStore`).

        Raises:
            StoreError: a create found the store full (`max_sessions`).

        """
        return self._engine.execute(op)

    async def sweep(self, now: float) -> int:
        """Free the records whose expiry is at or before `now`; return how many."""
        return self._engine.sweep(now)

    def __repr__(self) -> str:
        return f"AsyncMemoryStore(max_sessions={self.max_sessions!r})"
