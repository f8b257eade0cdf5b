"""Store operations the exchange emits and the results a store answers with.

Both are frozen, keyword-only value objects forming closed unions (`Op` and
`Result`), so drivers and adapters can ``match`` on them exhaustively. An
operation carries everything a driver needs; a driver holds no policy.
"""

from __future__ import annotations

from typing import Protocol, TypeAlias, final

import attrs

from ._errors import StoreError

__all__ = [
    "AsyncStore",
    "Conflict",
    "Delete",
    "Deleted",
    "EndOwned",
    "Ended",
    "ListOwned",
    "Load",
    "Loaded",
    "Missing",
    "Op",
    "Owned",
    "Result",
    "Save",
    "Saved",
    "Store",
    "StoreFailed",
]


@final
@attrs.frozen(kw_only=True)
class Load:
    """Fetch the record stored under `key`.

    A store answers `Loaded` or `Missing`. A store that sweeps must answer
    `Missing` for a record whose expiry is at or before `now`, even if it has
    not been swept yet; a store with native expiry (Redis) answers `Missing`
    once its server has dropped the record and may ignore `now`.

    Data the driver cannot read (a value in a foreign format, say) is answered
    `Loaded` with those bytes (or with ``b""``), never `Missing`: the exchange
    then starts a fresh session under a new ID and deletes the bad record,
    instead of leaving it behind.

    Attributes:
        key: the store key (a namespaced hash of the session ID, never the ID).
        now: the current time on the injected clock, in seconds.

    """

    key: str
    now: float


@final
@attrs.frozen(kw_only=True)
class Save:
    """Store `value` under `key`, with a compare-and-set on the revision.

    If `expected_revision` is ``None`` this is a create: it succeeds only if
    no live record exists under `key` (add-if-absent). Otherwise it succeeds
    only if a live record exists whose revision equals `expected_revision`.
    On success the stored revision becomes ``(expected_revision or 0) + 1``
    and the store answers `Saved`; otherwise it changes nothing and answers
    `Conflict`.

    Attributes:
        key: the store key.
        value: the packed record, opaque bytes.
        ttl: seconds until the record expires (for stores with native expiry);
            always finite and greater than zero.
        expires_at: the same expiry as an absolute time on the injected clock
            (for stores that sweep).
        expected_revision: the revision this request loaded, or ``None`` to create.
        now: the current time on the injected clock.
        owner: the owner the session belongs to, or ``None``. A key's owner
            never changes: it is set when the key is created and every later
            save of the key carries the same one (a new owner means a new
            key). A store with an owner index (``owner_index = True``) files
            the key under its owner on a create, so that `ListOwned` and
            `EndOwned` find it.
        max_owned: with an owner, how many live sessions the owner may keep.
            When a create would go over it, the store first deletes that
            owner's least recently used sessions (the earliest `expires_at`)
            to make room, never the one being created.

    """

    key: str
    value: bytes = attrs.field(repr=lambda v: f"<{len(v)} bytes>")
    ttl: float
    expires_at: float
    expected_revision: int | None
    now: float
    owner: str | None = None
    max_owned: int | None = None

    @property
    def new_revision(self) -> int:
        """The revision the record has after a successful save."""
        return (self.expected_revision or 0) + 1


@final
@attrs.frozen(kw_only=True)
class Delete:
    """Remove the record under `key`, if any. A store answers `Deleted`.

    Attributes:
        key: the store key.
        owner: the owner the record was saved with, if the exchange knows it;
            a store with an owner index removes the key from that owner's
            index too. A store must also cope with index entries whose record
            is gone (deleted without the owner, or expired): it drops them
            when it meets them.

    """

    key: str
    owner: str | None = None


@final
@attrs.frozen(kw_only=True)
class ListOwned:
    """Fetch every live record of `owner`. A store answers `Owned`.

    Only stores with an owner index (``owner_index = True``) are sent this
    op; it must not scan every record. Entries of the index whose record is
    missing or expired at `now` are left out (and may be removed).

    Attributes:
        owner: the owner, as given to `Save`.
        now: the current time on the injected clock.

    """

    owner: str
    now: float


@final
@attrs.frozen(kw_only=True)
class EndOwned:
    """Delete records of `owner`; a store answers `Ended` with how many.

    Every record in the owner's index when the op runs is deleted, except
    `keep`; with `only`, just that key, and only if it is in the owner's
    index. Records created after the op has run are not touched; a save
    racing it cannot bring a deleted record back, because an update needs a
    live record (the compare-and-set of `Save`).

    Attributes:
        owner: the owner, as given to `Save`.
        now: the current time on the injected clock.
        keep: a key to leave alone (the current session), or ``None``.
        only: end just this key (if `owner` owns it), or ``None`` for all.

    """

    owner: str
    now: float
    keep: str | None = None
    only: str | None = None


Op: TypeAlias = Load | Save | Delete | ListOwned | EndOwned
"""Every operation a store may be asked to execute."""


@final
@attrs.frozen(kw_only=True)
class Loaded:
    """The answer to a `Load` that found a live record."""

    value: bytes = attrs.field(repr=lambda v: f"<{len(v)} bytes>")
    revision: int


@final
@attrs.frozen(kw_only=True)
class Missing:
    """The answer to a `Load` that found no live record."""


@final
@attrs.frozen(kw_only=True)
class Saved:
    """The answer to a successful `Save`; `revision` is the new revision."""

    revision: int


@final
@attrs.frozen(kw_only=True)
class Conflict:
    """The answer to a `Save` whose compare-and-set failed."""


@final
@attrs.frozen(kw_only=True)
class Deleted:
    """The answer to a `Delete` (whether or not a record existed)."""


@final
@attrs.frozen(kw_only=True)
class Owned:
    """The answer to `ListOwned`: ``(key, value)`` of each live record of the
    owner, in no particular order.
    """

    records: tuple[tuple[str, bytes], ...] = attrs.field(repr=lambda v: f"<{len(v)} records>")


@final
@attrs.frozen(kw_only=True)
class Ended:
    """The answer to `EndOwned`: how many live records were deleted."""

    count: int


@final
@attrs.frozen(kw_only=True)
class StoreFailed:
    """Sent by an op loop when the store raised `StoreError`.

    The exchange answers it by raising that error and entering its error state.
    """

    error: StoreError


Result: TypeAlias = Loaded | Missing | Saved | Conflict | Deleted | Owned | Ended | StoreFailed
"""Every answer an exchange accepts."""


class Store(Protocol):
    """A synchronous store driver: bytes in, bytes out, a TTL and a CAS."""

    def execute(self, op: Op) -> Result:
        """Carry out `op`; raise `StoreError` (only) when the store fails."""
        ...


class AsyncStore(Protocol):
    """An asynchronous store driver."""

    async def execute(self, op: Op) -> Result:
        """Carry out `op`; raise `StoreError` (only) when the store fails."""
        ...
