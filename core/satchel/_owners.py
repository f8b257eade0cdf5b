"""Sessions by owner: list them, end them, from a request or from anywhere.

A session is tied to an owner with ``Session.regenerate(owner=...)``, and a
store with an owner index files its key under that owner. The protocol turns
"list" and "end" into store ops (`ListOwned`, `EndOwned`) and reads their
answers, with no I/O; the helpers here run those ops against a store, in the
synchronous and asynchronous flavours. See docs/owners.md.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, final

import attrs

from ._errors import ProtocolError
from ._ops import Ended, EndOwned, ListOwned, Owned, Result
from ._record import check_owner, read_header
from ._seal import b64encode

if TYPE_CHECKING:
    from ._exchange import SessionProtocol
    from ._ops import AsyncStore, Store

__all__ = [
    "SessionInfo",
    "aend_session",
    "aend_sessions",
    "alist_sessions",
    "end_session",
    "end_sessions",
    "list_sessions",
    "session_handle",
]


def session_handle(key: str) -> str:
    """The public handle of the session stored under `key`.

    A namespaced hash of the store key (itself a hash of the session ID):
    it names one session in a list of its owner's sessions and lets the owner
    end it, but it cannot be turned back into the key, let alone the ID.
    """
    digest = hashlib.sha256(b"satchel/session-handle/v1\x00" + key.encode("ascii")).digest()
    return b64encode(digest[:18])


@final
@attrs.frozen(kw_only=True)
class SessionInfo:
    """One live session of an owner, as shown on a "your sessions" page.

    Never the session ID or its store key: nothing here lets a reader take
    the session over.

    Attributes:
        handle: names this session to `end_session` (see `session_handle`).
        created_at: when it was created (login), on the injected clock.
        last_seen: when it was last saved, which is at least every
            ``touch_interval`` while it is used.
        label: what the application put in ``Session.label``, or ``None``.
        current: it is the session of the request that asked for the list.

    """

    handle: str
    created_at: float
    last_seen: float
    label: str | None
    current: bool = False


def read_sessions(
    protocol: SessionProtocol,
    owner: str,
    result: Result,
    *,
    now: float,
    current: str | None = None,
) -> list[SessionInfo]:
    """The live sessions in `result` (the answer to a `ListOwned` for
    `owner`), most recently seen first. Records that are malformed, ended by
    their timeouts at `now`, or owned by someone else are left out.

    Args:
        protocol: the protocol whose settings judge the timeouts.
        owner: the owner listed.
        result: the store's answer.
        now: the current time, from the injected clock.
        current: the handle of the asking request's session, if any.

    Raises:
        ProtocolError: `result` is not an `Owned`.

    """
    if not isinstance(result, Owned):
        raise ProtocolError(f"{type(result).__name__} does not answer ListOwned")
    from ._exchange import _expiry

    sessions = []
    for key, value in result.records:
        header = read_header(value)
        if header is None:
            continue
        created_at, last_access, record_owner, label = header
        if record_owner != owner or _expiry(protocol.settings, created_at, last_access, now):
            continue
        handle = session_handle(key)
        sessions.append(
            SessionInfo(
                handle=handle,
                created_at=created_at,
                last_seen=last_access,
                label=label,
                current=handle == current,
            )
        )
    sessions.sort(key=lambda info: (-info.last_seen, info.handle))
    return sessions


def listing_op(protocol: SessionProtocol, owner: str, now: float) -> ListOwned:
    """The op that lists `owner`'s sessions (`SessionProtocol.list_sessions`)."""
    protocol.require_owner_index()
    return ListOwned(owner=check_owner(owner), now=now)


def ending_op(protocol: SessionProtocol, owner: str, now: float) -> EndOwned:
    """The op that ends `owner`'s sessions (`SessionProtocol.end_sessions`)."""
    protocol.require_owner_index()
    return EndOwned(owner=check_owner(owner), now=now)


def _key_of(result: Result, handle: str) -> str | None:
    if not isinstance(result, Owned):
        raise ProtocolError(f"{type(result).__name__} does not answer ListOwned")
    for key, _ in result.records:
        if session_handle(key) == handle:
            return key
    return None


def _count(result: Result) -> int:
    if not isinstance(result, Ended):
        raise ProtocolError(f"{type(result).__name__} does not answer EndOwned")
    return result.count


def list_sessions(
    store: Store,
    protocol: SessionProtocol,
    owner: str,
    *,
    now: float,
    current: str | None = None,
) -> list[SessionInfo]:
    """The live sessions of `owner`, most recently seen first (one store op).

    Args:
        store: a synchronous store with an owner index.
        protocol: the protocol the sessions were made with.
        owner: whose sessions.
        now: the current time, from the injected clock.
        current: the handle of the asking request's session
            (``Session.handle``), marked ``current`` in the list.

    Raises:
        OwnerIndexUnavailable: cookie storage, or a store without an owner index.
        StoreError: the store failed.
        TypeError, ValueError: `owner` is not a valid owner.

    """
    op = protocol.list_sessions(owner, now=now)
    return read_sessions(protocol, owner, store.execute(op), now=now, current=current)


async def alist_sessions(
    store: AsyncStore,
    protocol: SessionProtocol,
    owner: str,
    *,
    now: float,
    current: str | None = None,
) -> list[SessionInfo]:
    """`list_sessions` for an asynchronous store."""
    op = protocol.list_sessions(owner, now=now)
    return read_sessions(protocol, owner, await store.execute(op), now=now, current=current)


def end_sessions(store: Store, protocol: SessionProtocol, owner: str, *, now: float) -> int:
    """End every session of `owner` (one store op): "log out everywhere",
    from outside any request (an admin action, a password-reset job).

    Returns how many live sessions were ended. Their cookies, replayed, get
    fresh sessions whose ``ended_reason`` is ``"ended"``.

    Raises:
        OwnerIndexUnavailable: cookie storage, or a store without an owner index.
        StoreError: the store failed.
        TypeError, ValueError: `owner` is not a valid owner.

    """
    return _count(store.execute(protocol.end_sessions(owner, now=now)))


async def aend_sessions(
    store: AsyncStore, protocol: SessionProtocol, owner: str, *, now: float
) -> int:
    """`end_sessions` for an asynchronous store."""
    return _count(await store.execute(protocol.end_sessions(owner, now=now)))


def end_session(
    store: Store, protocol: SessionProtocol, owner: str, handle: str, *, now: float
) -> bool:
    """End the one session of `owner` that `handle` names (from a list of
    its sessions); ``False`` if it names none of them (already ended, or
    someone else's). Two store ops: the list, then the delete.

    Raises:
        OwnerIndexUnavailable: cookie storage, or a store without an owner index.
        StoreError: the store failed.
        TypeError, ValueError: `owner` is not a valid owner.

    """
    key = _key_of(store.execute(protocol.list_sessions(owner, now=now)), handle)
    if key is None:
        return False
    return _count(store.execute(EndOwned(owner=owner, now=now, only=key))) > 0


async def aend_session(
    store: AsyncStore, protocol: SessionProtocol, owner: str, handle: str, *, now: float
) -> bool:
    """`end_session` for an asynchronous store."""
    key = _key_of(await store.execute(protocol.list_sessions(owner, now=now)), handle)
    if key is None:
        return False
    return _count(await store.execute(EndOwned(owner=owner, now=now, only=key))) > 0
