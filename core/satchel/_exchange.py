"""The per-request exchange: cookies and stored bytes in, headers and ops out.

An adapter makes one `SessionProtocol` at start-up and, per request::

    exchange = protocol.begin(cookie_headers, now=clock())
    exchange.open()                      # only when the handler asks
    run_ops(exchange, store)             # Load, if the storage needs one
    session = exchange.session
    ...                                  # the handler reads and writes
    exchange.finish()
    run_ops(exchange, store)             # Save / Delete, if any
    for name, value in exchange.outcome.headers:
        response.headers.add(name, value)

Nothing here does I/O or reads a clock. State moves follow the table in
``_state.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Final, Literal, NamedTuple, TypeAlias, final

import attrs

from . import _cookies
from ._cookies import SetCookie, parse_cookie_pairs
from ._errors import (
    ConfigurationError,
    CookieError,
    OwnerIndexUnavailable,
    ProtocolError,
    SessionConflict,
    SessionTooLarge,
)
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
    Result,
    Save,
    Saved,
    StoreFailed,
)
from ._owners import SessionInfo, ending_op, listing_op, read_sessions
from ._record import (
    EMPTY_MAP_BLOB,
    Record,
    check_map,
    pack_map,
    pack_record,
    unpack_map,
)
from ._seal import IdCodec, Sealer, store_key
from ._session import EndedReason, Session
from ._settings import Settings
from ._state import Event, Machine, State

__all__ = [
    "Exchange",
    "Outcome",
    "SessionProtocol",
    "StorageKind",
]

StorageKind: TypeAlias = Literal["cookie", "server"]
"""Where sessions live: sealed whole in the cookie, or in a store with only
an authenticated ID in the cookie."""

# The enum members as module globals: reading `State.OPEN` goes through the
# enum metaclass's __getattr__ hook (about ten times the cost of a global),
# and the exchange reads them several times per request.
_IDLE, _LOADING, _OPEN, _SAVING, _DONE, _ERROR = (
    State.IDLE,
    State.LOADING,
    State.OPEN,
    State.SAVING,
    State.DONE,
    State.ERROR,
)
_OPEN_READY, _OPEN_LOAD, _LOAD_ANSWERED = Event.OPEN_READY, Event.OPEN_LOAD, Event.LOAD_ANSWERED
_FINISH_QUIET, _FINISH_STORE = Event.FINISH_QUIET, Event.FINISH_STORE
_STORE_MORE, _STORE_DONE, _STORE_FAILED = Event.STORE_MORE, Event.STORE_DONE, Event.STORE_FAILED
_ABANDON, _GIVE_UP = Event.ABANDON, Event.GIVE_UP


_NO_STORE: Final = ("Cache-Control", "no-store")
_VARY_COOKIE: Final = ("Vary", "Cookie")


class Outcome(NamedTuple):
    """What the response must carry once an exchange is done.

    Attributes:
        headers: every header to add, in order: the ``Set-Cookie`` lines, then
            ``Cache-Control: no-store`` if the session cookie was set or
            deleted, then ``Vary: Cookie`` if the session was read. Add them
            all; replace nothing.
        session_cookie_changed: the session cookie was set or deleted.
        session_read: the request opened its session.
        conflicts_retried: how many times a save lost a race and was
            re-applied to fresh data (adapters may log it).
        discarded_by_logout: this request's changes were dropped because the
            session was ended (logged out) by a concurrent request.
        ended_reason: why the session the request presented had ended.
        sessions_ended: how many other sessions of the owner this request
            ended (``Session.end_other_sessions``).
    """

    # A named tuple: immutable, and built in a fraction of the time a frozen
    # class takes, which matters on the path of every request.
    headers: tuple[tuple[str, str], ...]
    session_cookie_changed: bool
    session_read: bool
    conflicts_retried: int = 0
    discarded_by_logout: bool = False
    ended_reason: EndedReason | None = None
    sessions_ended: int = 0

    def __repr__(self) -> str:
        # Never the headers: Set-Cookie values carry session IDs.
        return (
            f"Outcome(<{len(self.headers)} headers>, "
            f"session_cookie_changed={self.session_cookie_changed}, "
            f"session_read={self.session_read}, conflicts_retried={self.conflicts_retried}, "
            f"discarded_by_logout={self.discarded_by_logout}, "
            f"ended_reason={self.ended_reason!r}, sessions_ended={self.sessions_ended})"
        )

    @property
    def set_cookie_headers(self) -> tuple[str, ...]:
        """Just the ``Set-Cookie`` values, in order."""
        return tuple(value for name, value in self.headers if name == "Set-Cookie")


def _expiry(
    settings: Settings, created_at: float, last_access: float, now: float
) -> EndedReason | None:
    """Why a session with these timestamps has ended at `now`, or None."""
    if not (math.isfinite(created_at) and math.isfinite(last_access)):
        return "invalid"
    horizon = now + settings.clock_skew
    if created_at > horizon or last_access > horizon or last_access < created_at:
        return "invalid"
    # Expired at exactly the boundary: a session is valid for [t, t + timeout).
    if now - created_at >= settings.absolute_timeout:
        return "absolute"
    if now - last_access >= settings.idle_timeout:
        return "idle"
    return None


def _finite_now(now: float) -> float:
    # Every expiry, TTL and cookie date is computed from `now`: a NaN or an
    # infinity would reach the store as a TTL no driver can honour.
    seconds = float(now)
    if not math.isfinite(seconds):
        raise ProtocolError(f"now must be a finite number of POSIX seconds, got {now!r}")
    return seconds


@final
class SessionProtocol:
    """The sans-IO session protocol for one configuration.

    Build one at start-up (it validates and precomputes everything it can)
    and call `begin` once per request.

    Args:
        settings: the validated settings.
        storage: ``"cookie"`` to keep the whole session sealed in the cookie,
            or ``"server"`` to keep it in a store, the cookie carrying only an
            authenticated session ID.
        owner_index: whether the store keeps an owner index (its
            ``owner_index`` attribute), so that sessions can be listed and
            ended by owner; `satchel.AdapterOptions` reads it off the store.
            Always ``False`` for cookie storage.

    """

    __slots__ = (
        "_attributes",
        "_chunk_deletes",
        "_delete_cookie",
        "_ids",
        "_sealer",
        "owner_index",
        "settings",
        "storage",
    )

    def __init__(
        self, settings: Settings, *, storage: StorageKind = "cookie", owner_index: bool = False
    ) -> None:
        if storage not in ("cookie", "server"):
            raise ConfigurationError(f"storage: must be 'cookie' or 'server', got {storage!r}")
        if not isinstance(owner_index, bool):
            raise ConfigurationError(f"owner_index: must be True or False, got {owner_index!r}")
        self.settings = settings
        self.storage: StorageKind = storage
        self.owner_index = owner_index and storage == "server"
        self._attributes = settings.attributes()
        expired = self._attributes + _cookies._DELETE_LIFETIME
        self._delete_cookie = f"{settings.cookie_name}={expired}"
        self._chunk_deletes = tuple(
            f"{settings.cookie_name}.{index}={expired}" for index in range(1, 9)
        )
        self._sealer = Sealer(settings.keyring, settings.cookie_name)
        self._ids = IdCodec(settings.keyring, settings.cookie_name)

    def __repr__(self) -> str:
        return f"<SessionProtocol storage={self.storage!r} cookie={self.settings.cookie_name!r}>"

    def begin(self, cookie_headers: str | Iterable[str] | None, *, now: float) -> Exchange:
        """Start one request's exchange.

        Args:
            cookie_headers: the request's ``Cookie`` header value(s), as sent
                (several values if the header was repeated), or ``None``.
            now: the current time in POSIX seconds, from the injected clock.

        Raises:
            ProtocolError: `now` is not a finite number (a broken clock).

        """
        return Exchange(self, cookie_headers, now)

    def list_sessions(self, owner: str, *, now: float) -> ListOwned:
        """The store op that lists `owner`'s sessions; read its answer with
        `read_sessions`. (`satchel.list_sessions` runs both.)

        Raises:
            OwnerIndexUnavailable: cookie storage, or a store without an owner index.
            TypeError, ValueError: `owner` is not a valid owner.

        """
        return listing_op(self, owner, _finite_now(now))

    def read_sessions(
        self, owner: str, result: Result, *, now: float, current: str | None = None
    ) -> list[SessionInfo]:
        """`owner`'s live sessions from the answer to `list_sessions`, most
        recently seen first; `current` is the asking session's handle.

        Raises:
            ProtocolError: `result` does not answer a `ListOwned`.

        """
        return read_sessions(self, owner, result, now=_finite_now(now), current=current)

    def end_sessions(self, owner: str, *, now: float) -> EndOwned:
        """The store op that ends every session of `owner` ("log out
        everywhere"); the store answers `Ended` with how many.
        (`satchel.end_sessions` runs it.)

        Raises:
            OwnerIndexUnavailable: cookie storage, or a store without an owner index.
            TypeError, ValueError: `owner` is not a valid owner.

        """
        return ending_op(self, owner, _finite_now(now))

    def require_owner_index(self) -> None:
        """Raise unless sessions can be listed and ended by owner.

        Raises:
            OwnerIndexUnavailable: cookie storage, or a store without an
                owner index.

        """
        if self.storage == "cookie":
            raise OwnerIndexUnavailable(
                "sessions kept in cookies cannot be listed or ended by owner: a sealed "
                "cookie stays valid until it expires unless the server keeps state; "
                "use a server-side store with an owner index (docs/owners.md)"
            )
        if not self.owner_index:
            raise OwnerIndexUnavailable(
                "the store keeps no owner index (its driver lacks owner_index = True), "
                "so sessions cannot be listed or ended by owner"
            )


@final
class Exchange:
    """One request's session state machine. Made by `SessionProtocol.begin`."""

    # Per-request state. Most requests touch few of these, so they start as
    # class-level defaults and only the ones that change are set per instance.
    _pairs: list[tuple[str, str]] | None = None
    _cookie_map: Mapping[str, str] | None = None
    _session: Session | None = None
    _finished = False
    _pending: Op | None = None
    _outcome: Outcome | None = None
    _ended_reason: EndedReason | None = None
    _is_new = True
    _cookie_presented = False
    _id: bytes | None = None
    _record_key: str | None = None
    _loaded_key: str | None = None
    _revision: int | None = None
    _loaded_data_blob = EMPTY_MAP_BLOB
    _loaded_flash_blob = EMPTY_MAP_BLOB
    _regenerated = False
    _conflicts = 0
    _session_cookie_changed = False
    _cookie_id_times: tuple[float, float] | None = None
    _discarded = False
    _chunks_present = 0
    # The owner and label (docs/owners.md); most sessions have neither.
    _owner: str | None = None
    _label: str | None = None
    _loaded_owner: str | None = None
    _meta_changed = False
    _end_others = False
    _sessions_ended = 0
    # Lists only a few requests add to; replaced by a list on the first add.
    _queue: list[Op] | tuple[()] = ()
    _custom_cookies: list[str] | tuple[()] = ()
    _invalidated_keys: list[str] | tuple[()] = ()

    def __init__(
        self, protocol: SessionProtocol, cookie_headers: str | Iterable[str] | None, now: float
    ) -> None:
        self._protocol = protocol
        self._cookie_headers = cookie_headers
        self._now = self._created_at = self._last_access = _finite_now(now)
        self._machine = Machine()
        self._set_cookies: list[str] = []

    def __repr__(self) -> str:
        return f"<Exchange state={self._machine.state.name}>"

    # -- introspection --------------------------------------------------

    @property
    def state(self) -> State:
        """The current state (see the state diagram in the docs)."""
        return self._machine.state

    @property
    def request_cookies(self) -> Mapping[str, str]:
        """Every cookie of the request a browser could have sent, name → value
        (the first of duplicated names wins).

        Names are HTTP tokens exactly as sent; values are kept as browsers
        store them (spaces, commas, quotes and non-ASCII included), trimmed
        of spaces and tabs at both ends and never decoded (see
        `parse_cookie_pairs`).
        """
        if self._cookie_map is None:
            result: dict[str, str] = {}
            for name, value in self._request_pairs():
                result.setdefault(name, value)
            self._cookie_map = MappingProxyType(result)
        return self._cookie_map

    def _request_pairs(self) -> list[tuple[str, str]]:
        if self._pairs is None:
            self._pairs = parse_cookie_pairs(self._cookie_headers)
        return self._pairs

    def _misuse(self, message: str) -> ProtocolError:
        self._release_session()
        return self._machine.fail(message)

    def _release_session(self) -> None:
        # The session refers to its exchange (to refuse use after finish);
        # dropping the reference back once the exchange is done or failed
        # breaks the cycle, so the request's objects are freed at once
        # instead of by the garbage collector.
        self._session = None

    # -- custom cookies -------------------------------------------------

    def set_cookie(
        self,
        name: str,
        value: str,
        *,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = True,
        http_only: bool = True,
        same_site: str | None = "lax",
        partitioned: bool = False,
        max_age: float | None = None,
        expires: float | datetime | None = None,
    ) -> None:
        """Add a ``Set-Cookie`` for an application cookie to the response.

        The cookie is validated now: a name, value, path or domain that could
        inject an attribute raises `CookieError` and nothing is added. The
        session cookie's own name (and its chunk names) are refused here.
        """
        self._check_custom(name)
        cookie = SetCookie(
            name=name,
            value=value,
            path=path,
            domain=domain,
            secure=secure,
            http_only=http_only,
            same_site=same_site,
            partitioned=partitioned,
            max_age=max_age,
            expires=expires,
        )
        self._add_custom(cookie.render(now=self._now))

    def delete_cookie(
        self,
        name: str,
        *,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = True,
        http_only: bool = True,
        same_site: str | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Expire an application cookie; pass the Path and Domain it was set with."""
        self._check_custom(name)
        self._add_custom(
            _cookies.render_delete_cookie(
                name,
                path=path,
                domain=domain,
                secure=secure,
                http_only=http_only,
                same_site=same_site,
                partitioned=partitioned,
            )
        )

    def _add_custom(self, header: str) -> None:
        if not self._custom_cookies:
            self._custom_cookies = []
        self._custom_cookies.append(header)

    def _check_custom(self, name: str) -> None:
        if self._finished:
            raise self._misuse("cookies cannot be set after finish()")
        base = self._protocol.settings.cookie_name
        if name == base or name.startswith(base + "."):
            raise CookieError(f"{name!r} is the session cookie's name; use the session instead")

    # -- opening --------------------------------------------------------

    def open(self) -> None:
        """Ask for the session. Then run the ops; then read `session`.

        Calling it again is harmless. With cookie storage, or when the
        request carries no authentic session cookie, no op is needed.
        """
        state = self._machine.state
        if state in (_OPEN, _LOADING):
            return
        if state is not _IDLE:
            raise self._misuse(f"open() in state {state.name}")
        if self._protocol.storage == "cookie":
            self._open_cookie()
            self._machine.fire(_OPEN_READY)
            return
        if self._open_server_id():
            assert self._record_key is not None
            self._pending = Load(key=self._record_key, now=self._now)
            self._machine.fire(_OPEN_LOAD)
        else:
            self._start_fresh()
            self._machine.fire(_OPEN_READY)

    @property
    def session(self) -> Session:
        """The session view. Available between `open` (and its ops) and `finish`."""
        if self._machine.state is not _OPEN or self._session is None:
            if self._finished:
                raise self._misuse("the session was used after finish()")
            raise self._misuse(
                f"the session is not available in state {self._machine.state.name}; "
                "call open() and run its ops first"
            )
        return self._session

    def _session_candidates(self) -> list[str]:
        """The session cookie's values; notes the highest chunk index present."""
        name = self._protocol.settings.cookie_name
        candidates = []
        chunked = False
        for key, value in self._request_pairs():
            if key == name:
                candidates.append(value)
            elif key.startswith(name):
                chunked = True
        if chunked:
            self._chunks_present = self._highest_chunk_index()
        return candidates

    def _open_cookie(self) -> None:
        candidates = self._session_candidates()
        if not candidates:
            self._start_fresh()
            return
        self._cookie_presented = True
        opened: list[Record] = []
        for candidate in candidates:
            record = self._open_sealed(candidate)
            if record is not None:
                opened.append(record)
        if len(opened) != 1:
            # None authentic, or several authentic (cookie tossing): no session.
            self._start_fresh("invalid")
            return
        record = opened[0]
        reason = _expiry(self._protocol.settings, record.created_at, record.last_access, self._now)
        if reason is not None:
            self._start_fresh(reason)
            return
        self._adopt(record)

    def _open_sealed(self, candidate: str) -> Record | None:
        settings = self._protocol.settings
        head, dot, rest = candidate.partition(".")
        if dot:
            # Chunked: "<count>.<first part>", the rest in name.1 .. name.<count-1>.
            # isdigit() alone admits digits int() refuses ("²"): ASCII only.
            if (
                not (head.isascii() and head.isdigit())
                or not 2 <= int(head) <= settings.cookie_chunks
            ):
                return None
            count = int(head)
            parts = [rest]
            pairs = self._request_pairs()
            for index in range(1, count):
                chunk_name = f"{settings.cookie_name}.{index}"
                values = [value for key, value in pairs if key == chunk_name]
                if len(values) != 1:
                    return None
                parts.append(values[0])
            sealed = "".join(parts)
        else:
            sealed = candidate
        opened = self._protocol._sealer.open(sealed)
        if opened is None:
            return None
        # Only satchel can have sealed it: pack_map checked it then.
        return Record.unpack(opened[0], authenticated=True)

    def _open_server_id(self) -> bool:
        candidates = self._session_candidates()
        if not candidates:
            return False
        self._cookie_presented = True
        decoded = [item for item in map(self._protocol._ids.decode, candidates) if item is not None]
        if len(decoded) != 1:
            self._ended_reason = "invalid"
            return False
        session_id, created_at, last_access = decoded[0]
        self._id = session_id
        self._record_key = store_key(session_id)
        self._cookie_id_times = (created_at, last_access)
        return True

    def _start_fresh(self, reason: EndedReason | None = None) -> None:
        if reason is not None:
            self._ended_reason = reason
        self._forget_stored()
        self._session = Session(self, {}, {})

    def _forget_stored(self) -> None:
        """No stored session any more: a new one, created now, nothing loaded."""
        self._id = None
        self._record_key = None
        self._revision = None
        self._is_new = True
        self._created_at = self._now
        self._last_access = self._now
        self._loaded_data_blob = EMPTY_MAP_BLOB
        self._loaded_flash_blob = EMPTY_MAP_BLOB
        if self._owner is not None or self._label is not None:
            self._owner = self._label = None
        self._meta_changed = False

    def _adopt(self, record: Record, revision: int | None = None) -> None:
        self._is_new = False
        self._revision = revision
        self._created_at = record.created_at
        self._last_access = record.last_access
        self._loaded_data_blob = record.data_blob
        self._loaded_flash_blob = record.flash_blob
        if record.owner is not None or record.label is not None:
            self._owner = self._loaded_owner = record.owner
            self._label = record.label
        self._session = Session(self, record.data, record.flash)

    # -- ops ------------------------------------------------------------

    def next_op(self) -> Op | None:
        """The operation waiting for a result, or ``None``."""
        return self._pending

    def send(self, result: Result) -> Op | None:
        """Give the result of the pending op; returns the next op or ``None``.

        Raises:
            StoreError: the result is `StoreFailed` (the exchange is failed).
            SessionConflict: saving lost more races than allowed.
            ProtocolError: no op was pending, or the result does not answer it.

        """
        op = self._pending
        if op is None:
            raise self._misuse(f"send() with no pending op (state {self._machine.state.name})")
        if isinstance(result, StoreFailed):
            self._pending = None
            self._machine.fire(_STORE_FAILED)
            raise result.error
        self._pending = None
        if self._machine.state is _LOADING:
            if not isinstance(op, Load) or not isinstance(result, Loaded | Missing):
                raise self._misuse(f"{type(result).__name__} does not answer {type(op).__name__}")
            self._on_loaded(result)
            self._machine.fire(_LOAD_ANSWERED)
            return None
        if self._machine.state is not _SAVING:
            raise self._misuse(f"send() in state {self._machine.state.name}")
        self._on_store_result(op, result)
        if self._pending is None and self._queue:
            self._pending = self._queue[0]
            self._queue = self._queue[1:]
        if self._pending is None:
            self._complete()
            self._machine.fire(_STORE_DONE)
        else:
            self._machine.fire(_STORE_MORE)
        return self._pending

    def _on_loaded(self, result: Loaded | Missing) -> None:
        if isinstance(result, Missing):
            self._start_fresh(self._reason_for_missing())
            return
        record = Record.unpack(result.value)
        if record is None:
            # Corrupt bytes: a fresh session with a new ID, and the bad record goes.
            self._drop_loaded_key()
            self._start_fresh("invalid")
            return
        reason = _expiry(self._protocol.settings, record.created_at, record.last_access, self._now)
        if reason is not None:
            self._drop_loaded_key()
            self._start_fresh(reason)
            return
        self._adopt(record, result.revision)
        self._loaded_key = self._record_key

    def _reason_for_missing(self) -> EndedReason:
        if self._cookie_id_times is not None:
            created_at, last_access = self._cookie_id_times
            reason = _expiry(self._protocol.settings, created_at, last_access, self._now)
            if reason is not None:
                return reason
        # An authentic ID whose record is gone: ended elsewhere (a logout in
        # another request, "end all sessions" of its owner) or dropped by the store.
        return "ended"

    def _drop_loaded_key(self) -> None:
        key = self._record_key
        if key is not None and key not in self._invalidated_keys:
            self._invalidated_keys = [*self._invalidated_keys, key]

    # -- regenerate / invalidate (called by Session) --------------------

    def _regenerate(self, owner: str | None, *, set_owner: bool) -> None:
        self._regenerated = True
        if set_owner and owner != self._owner:
            self._owner = owner
            self._meta_changed = True

    def _set_label(self, label: str | None) -> None:
        if label != self._label:
            self._label = label
            self._meta_changed = True

    def _request_end_others(self) -> None:
        self._protocol.require_owner_index()
        if self._owner is None:
            raise ProtocolError(
                "end_other_sessions() on a session without an owner: tie it to one "
                "first, with regenerate(owner=...)"
            )
        self._end_others = True

    def _invalidate(self) -> None:
        self._drop_loaded_key()
        self._forget_stored()
        self._regenerated = False
        self._session_cookie_changed = True  # the old cookie must go even if nothing new is stored

    # -- finishing ------------------------------------------------------

    def abandon(self) -> None:
        """End the exchange without saving anything, because the request failed.

        For adapters, when the handler raised an unexpected error: no op is
        run and no header is produced, and the session raises
        `ProtocolError` if anything touches it afterwards. Abandoning a
        finished or failed exchange does nothing.
        """
        if self._machine.state in (_DONE, _ERROR, _SAVING):
            return
        self._finished = True
        self._pending = None
        self._release_session()
        self._machine.fire(_ABANDON)

    def give_up(self, *, waiting: bool = False) -> SessionConflict:
        """Stop saving: the op loop's conflict deadline has passed.

        For op loops: call it instead of running the pending op when
        ``Settings.conflict_deadline`` has passed since the save began (while
        waiting for the session's turn, or after lost races), and raise the
        `SessionConflict` it returns; `waiting` says the time went on
        waiting for the session's turn rather than on lost races. Nothing more
        is stored and no header is produced; the exchange enters its error
        state.

        Raises:
            ProtocolError: the exchange is not saving.

        """
        state = self._machine.state
        if state is not _SAVING:
            raise self._misuse(f"give_up() in state {state.name}")
        self._pending = None
        self._queue = ()
        self._release_session()
        self._machine.fire(_GIVE_UP)
        deadline = self._protocol.settings.conflict_deadline
        why = (
            "the saves of the same session ahead of it took all that time"
            if waiting
            else f"concurrent requests kept changing it ({self._conflicts} conflicts)"
        )
        return SessionConflict(
            f"the session could not be saved within conflict_deadline ({deadline:g} s): {why}",
            conflicts=self._conflicts,
        )

    @property
    def conflicts(self) -> int:
        """How many times a save of this exchange has lost a race so far."""
        return self._conflicts

    @property
    def lock_key(self) -> str | None:
        """The store key of the stored session this request loaded, or ``None``.

        Concurrent requests of the same session save under this key, so an
        op loop that runs many requests at once (an adapter) serialises their
        saves on it: within one process they then never race each other.
        ``None`` for cookie storage and for a session that was not loaded from
        the store (a new one): nobody else can be saving it.
        """
        return self._loaded_key

    def finish(self, *, now: float | None = None) -> Op | None:
        """End the request: decide what to store and which cookies to send.

        Returns the first op to run (or ``None``); run the op loop, then read
        `outcome`. `now` defaults to the time given to `begin`.

        Raises:
            SessionTooLarge: cookie storage, and the sealed session does not
                fit (the exchange is failed).
            UnstorableValue: a session value the record cannot hold.
            ProtocolError: finishing twice, while a `Load` is unanswered, or
                with a `now` that is not a finite number.

        """
        state = self._machine.state
        if state not in (_IDLE, _OPEN):
            raise self._misuse(f"finish() in state {state.name}")
        if now is not None:
            try:
                self._now = _finite_now(now)
            except ProtocolError as error:
                raise self._misuse(str(error)) from None
        self._finished = True
        try:
            if state is _IDLE:
                self._complete()
                self._machine.fire(_FINISH_QUIET)
                return None
            if self._protocol.storage == "cookie":
                self._finish_cookie()
            else:
                self._finish_server()
        except BaseException:
            self._misuse("finish() failed")
            raise
        if self._pending is None:
            self._complete()
            self._machine.fire(_FINISH_QUIET)
        else:
            self._machine.fire(_FINISH_STORE)
        return self._pending

    def _blobs(self) -> tuple[bytes, bytes]:
        session = self._session
        assert session is not None
        data = session._data
        data_blob = pack_map(data, check=False)
        if data_blob != self._loaded_data_blob:
            check_map(data)  # nested keys are str, depth bounded
        outgoing = session._outgoing_flash
        flash_blob = pack_map(outgoing) if outgoing else EMPTY_MAP_BLOB
        return data_blob, flash_blob

    def _needs_write(self, data_blob: bytes, flash_blob: bytes) -> bool:
        if self._is_new:
            return data_blob != EMPTY_MAP_BLOB or flash_blob != EMPTY_MAP_BLOB or self._meta_changed
        if self._regenerated or self._meta_changed:
            return True
        if data_blob != self._loaded_data_blob or flash_blob != self._loaded_flash_blob:
            return True
        return self._now - self._last_access >= self._protocol.settings.touch_interval

    def _lifetime(self, last_access: float) -> tuple[float, float]:
        """(expires_at, seconds left) for a session saved now."""
        settings = self._protocol.settings
        expires_at = min(
            last_access + settings.idle_timeout,
            self._created_at + settings.absolute_timeout,
        )
        # A save is only reached for a live session, but finish(now=...) may
        # come late: never hand a store a zero or negative TTL.
        return expires_at, max(expires_at - self._now, 0.001)

    def _session_set_cookie(self, value: str, last_access: float, name: str | None = None) -> str:
        settings = self._protocol.settings
        text = f"{name or settings.cookie_name}={value}{self._protocol._attributes}"
        if settings.persistent:
            _, left = self._lifetime(last_access)
            text += _cookies.lifetime_attributes(left, now=self._now)
        return text

    def _finish_cookie(self) -> None:
        settings = self._protocol.settings
        data_blob, flash_blob = self._blobs()
        present_chunks = self._chunks_present
        if not self._needs_write(data_blob, flash_blob):
            if self._must_expire_cookie():
                self._expire_session_cookie(present_chunks)
            return
        last_access = max(self._now, self._last_access)
        sealed = self._protocol._sealer.seal(
            pack_record(
                created_at=self._created_at,
                last_access=last_access,
                flash_blob=flash_blob,
                data_blob=data_blob,
                owner=self._owner,
                label=self._label,
            )
        )
        name = settings.cookie_name
        limit = settings.max_cookie_size
        # Browsers measure name plus value (RFC 6265bis); the "=" is not counted.
        if len(name) + len(sealed) <= limit:
            self._set_cookies.append(self._session_set_cookie(sealed, last_access))
            used = 1
        else:
            parts = self._split(sealed)
            if parts is None:
                raise SessionTooLarge(len(name) + len(sealed), limit * settings.cookie_chunks)
            for index, part in enumerate(parts):
                chunk_name = name if index == 0 else f"{name}.{index}"
                self._set_cookies.append(self._session_set_cookie(part, last_access, chunk_name))
            used = len(parts)
        # Chunks the request had beyond those now used: _chunk_deletes[i - 1] expires name.i.
        self._set_cookies.extend(self._protocol._chunk_deletes[used - 1 : present_chunks])
        self._session_cookie_changed = True

    def _split(self, sealed: str) -> list[str] | None:
        settings = self._protocol.settings
        name, limit = settings.cookie_name, settings.max_cookie_size
        for count in range(2, settings.cookie_chunks + 1):
            # Each chunk's name plus value fits the limit, as for one cookie.
            first_room = limit - len(name) - len(f"{count}.")
            other_room = limit - len(name) - len(f".{count - 1}")
            if first_room + other_room * (count - 1) >= len(sealed):
                parts = [f"{count}.{sealed[:first_room]}"]
                position = first_room
                while position < len(sealed):
                    parts.append(sealed[position : position + other_room])
                    position += other_room
                while len(parts) < count:  # pragma: no cover - sizes add up
                    parts.append("")
                return parts
        return None

    def _highest_chunk_index(self) -> int:
        """The highest chunk index among the request's cookies (0 for none)."""
        prefix = self._protocol.settings.cookie_name + "."
        highest = 0
        for key, _ in self._request_pairs():
            if key.startswith(prefix):
                suffix = key[len(prefix) :]
                if suffix.isascii() and suffix.isdigit() and 1 <= int(suffix) <= 8:
                    highest = max(highest, int(suffix))
        return highest

    def _must_expire_cookie(self) -> bool:
        # After invalidate(), and after a timeout: otherwise every later
        # request would report the same timeout (and a redirect on timeout
        # would loop). A cookie that does not authenticate, or names a
        # session no longer stored, is left alone: nothing is set for it.
        return self._session_cookie_changed or (
            self._cookie_presented and self._ended_reason in ("idle", "absolute")
        )

    def _expire_session_cookie(self, present_chunks: int = 0) -> None:
        self._set_cookies.append(self._protocol._delete_cookie)
        self._set_cookies.extend(self._protocol._chunk_deletes[:present_chunks])
        self._session_cookie_changed = True

    def _finish_server(self) -> None:
        data_blob, flash_blob = self._blobs()
        ops: list[Op] = [self._delete(key) for key in self._invalidated_keys]
        if self._end_others and self._owner is not None:
            # Before the save: it may create this session's new key, which
            # must survive; an updated key is kept by name.
            keep = None if self._regenerated or self._is_new else self._record_key
            ops.append(EndOwned(owner=self._owner, now=self._now, keep=keep))
        if self._needs_write(data_blob, flash_blob):
            previous_key = self._record_key if self._regenerated else None
            save = self._make_save(data_blob, flash_blob, create=self._is_new or self._regenerated)
            ops.append(save)
            if previous_key is not None:
                ops.append(self._delete(previous_key))
        elif self._must_expire_cookie():
            self._expire_session_cookie()
        if ops:
            self._pending = ops[0]
            self._queue = ops[1:]

    def _delete(self, key: str) -> Delete:
        # The owner is known for the key this request loaded (a key's owner
        # never changes); a store with an owner index unfiles the key with it.
        if key == self._loaded_key and self._loaded_owner is not None:
            return Delete(key=key, owner=self._loaded_owner)
        return Delete(key=key)

    def _make_save(self, data_blob: bytes, flash_blob: bytes, *, create: bool) -> Save:
        if create:
            self._id = IdCodec.new_id()
            self._record_key = store_key(self._id)
        assert self._record_key is not None
        last_access = max(self._now, self._last_access)
        expires_at, left = self._lifetime(last_access)
        value = pack_record(
            created_at=self._created_at,
            last_access=last_access,
            flash_blob=flash_blob,
            data_blob=data_blob,
            owner=self._owner,
            label=self._label,
        )
        owner = self._owner
        return Save(
            key=self._record_key,
            value=value,
            ttl=left,
            expires_at=expires_at,
            expected_revision=None if create else self._revision,
            now=self._now,
            owner=owner,
            max_owned=None if owner is None else self._protocol.settings.max_sessions_per_owner,
        )

    def _on_store_result(self, op: Op, result: Result) -> None:
        if isinstance(op, Delete):
            if not isinstance(result, Deleted):
                raise self._misuse(f"{type(result).__name__} does not answer Delete")
            return
        if isinstance(op, EndOwned):
            if not isinstance(result, Ended):
                raise self._misuse(f"{type(result).__name__} does not answer EndOwned")
            self._sessions_ended += result.count
            return
        if isinstance(op, Save):
            if isinstance(result, Saved):
                self._saved(op)
            elif isinstance(result, Conflict):
                self._conflicted(op)
            else:
                raise self._misuse(f"{type(result).__name__} does not answer Save")
            return
        # A Load issued after a conflict.
        if not isinstance(result, Loaded | Missing):
            raise self._misuse(f"{type(result).__name__} does not answer Load")
        self._merge_after_conflict(result)

    def _saved(self, op: Save) -> None:
        assert self._id is not None
        last_access = max(self._now, self._last_access)
        value = self._protocol._ids.encode(self._id, self._created_at, last_access)
        self._set_cookies.append(self._session_set_cookie(value, last_access))
        self._session_cookie_changed = True

    def _conflicted(self, op: Save) -> None:
        self._conflicts += 1
        if op.expected_revision is None:
            # An ID collision on create (or a racing create): try a fresh ID.
            # The record does not hold the ID, so the same bytes go under a new one.
            self._id = IdCodec.new_id()
            self._record_key = store_key(self._id)
            self._pending = attrs.evolve(op, key=self._record_key)
            return
        self._pending = Load(key=op.key, now=self._now)

    def _merge_after_conflict(self, result: Loaded | Missing) -> None:
        record = Record.unpack(result.value) if isinstance(result, Loaded) else None
        if record is not None and _expiry(
            self._protocol.settings, record.created_at, record.last_access, self._now
        ):
            record = None
        if record is None or not isinstance(result, Loaded):
            # The session ended under us (a logout, or it expired): never revive it.
            self._discarded = True
            self._queue = [op for op in self._queue if not isinstance(op, Save)]
            self._expire_session_cookie()
            return
        session = self._session
        assert session is not None
        original = unpack_map(self._loaded_data_blob)
        current = session._data
        merged = dict(record.data)
        for key in original.keys() | current.keys():
            if key not in current:
                merged.pop(key, None)
            elif key not in original or pack_map({key: original[key]}, check=False) != pack_map(
                {key: current[key]}, check=False
            ):
                merged[key] = current[key]
        # Flash: drop what this request consumed, keep what others added, add ours.
        consumed = unpack_map(self._loaded_flash_blob)
        flash = {key: value for key, value in record.flash.items() if key not in consumed}
        flash.update(session._outgoing_flash)
        self._revision = result.revision
        self._loaded_data_blob = record.data_blob
        self._loaded_flash_blob = record.flash_blob
        self._created_at = record.created_at
        self._last_access = max(self._last_access, record.last_access)
        session._data = merged
        self._pending = self._make_save(
            pack_map(merged), pack_map(flash) if flash else EMPTY_MAP_BLOB, create=False
        )

    def _complete(self) -> None:
        headers = [("Set-Cookie", value) for value in self._set_cookies]
        if self._custom_cookies:
            headers += [("Set-Cookie", value) for value in self._custom_cookies]
        changed = self._session_cookie_changed
        if changed:
            headers.append(_NO_STORE)
        read = self._session is not None
        if read:
            headers.append(_VARY_COOKIE)
            self._release_session()
        # Positional: (headers, session_cookie_changed, session_read,
        # conflicts_retried, discarded_by_logout, ended_reason, sessions_ended).
        self._outcome = Outcome(
            tuple(headers),
            changed,
            read,
            self._conflicts,
            self._discarded,
            self._ended_reason,
            self._sessions_ended,
        )

    @property
    def outcome(self) -> Outcome:
        """What to add to the response. Available once the exchange is DONE."""
        if self._outcome is None or self._machine.state is not _DONE:
            raise self._misuse(f"no outcome in state {self._machine.state.name}")
        return self._outcome
