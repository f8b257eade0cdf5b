"""The session view handed to application code."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, MutableMapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, final

from ._owners import session_handle
from ._record import check_label, check_owner

if TYPE_CHECKING:
    from ._exchange import Exchange

__all__ = ["EndedReason", "Session"]

EndedReason: TypeAlias = Literal["idle", "absolute", "invalid", "ended"]
"""Why the previous session ended: idle timeout, absolute timeout, a cookie or
record that did not authenticate or was malformed (``"invalid"``), or an
authentic session cookie whose record is no longer stored (``"ended"``: a
logout elsewhere, its owner's sessions ended, or dropped by the store)."""


class _Keep(enum.Enum):
    KEEP = enum.auto()


_KEEP: Final = _Keep.KEEP


@final
class Session(MutableMapping[str, Any]):
    """One request's view of its session: a mutable mapping of str keys.

    Values must be storable by the record format (see the docs' "What a
    session can hold"); a value that is not raises `UnstorableValue` at finish,
    naming the key. Changes, including nested ones such as
    ``session["cart"].append(item)``, are detected by comparing packed bytes.

    Every method raises `ProtocolError` once the exchange has finished.
    """

    __slots__ = ("_data", "_exchange", "_flashed", "_outgoing_flash")

    def __init__(self, exchange: Exchange, data: dict[str, Any], flashed: dict[str, Any]) -> None:
        self._exchange = exchange
        self._data = data
        self._flashed = flashed
        self._outgoing_flash: dict[str, Any] = {}

    def _live(self) -> dict[str, Any]:
        if self._exchange._finished:
            raise self._exchange._misuse("the session was used after finish()")
        return self._data

    def __getitem__(self, key: str) -> Any:
        # _live() inlined: reads are the most frequent call of a request.
        if self._exchange._finished:
            raise self._exchange._misuse("the session was used after finish()")
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if type(key) is not str:
            raise TypeError(f"session keys must be str, not {type(key).__name__}")
        self._live()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._live()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._live())

    def __len__(self) -> int:
        return len(self._live())

    def __contains__(self, key: object) -> bool:
        return key in self._live()

    def get(self, key: str, default: Any = None) -> Any:
        """The value for `key`, or `default` if the session has none."""
        if self._exchange._finished:
            raise self._exchange._misuse("the session was used after finish()")
        return self._data.get(key, default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        """Set `key` to `default` only if it is absent; return its value."""
        data = self._live()
        if key not in data:
            self[key] = default
        return data[key]

    def clear(self) -> None:
        """Remove every key (the session itself, and its ID, remain)."""
        self._live().clear()

    def __repr__(self) -> str:
        # Keys only: values may be secrets (tokens) and never belong in logs.
        if self._exchange._finished:
            return "<Session (finished)>"
        return f"<Session keys={sorted(self._data)!r} new={self.is_new}>"

    # -- flash ----------------------------------------------------------

    def flash(self, key: str, value: Any) -> None:
        """Put a value that the *next* request reads from `flashed`, once."""
        self._live()
        if type(key) is not str:
            raise TypeError(f"flash keys must be str, not {type(key).__name__}")
        self._outgoing_flash[key] = value

    @property
    def flashed(self) -> Mapping[str, Any]:
        """The values the previous request flashed; gone after this request."""
        self._live()
        return MappingProxyType(self._flashed)

    # -- lifecycle ------------------------------------------------------

    @property
    def is_new(self) -> bool:
        """True if this request started the session (nothing was stored yet)."""
        self._live()
        return self._exchange._is_new

    @property
    def ended_reason(self) -> EndedReason | None:
        """Why the session this request presented has ended, if it has.

        ``"idle"`` or ``"absolute"`` for a timeout (adapters redirect on
        these), ``"invalid"`` for a cookie that did not authenticate, was
        ambiguous or malformed, ``"ended"`` for an authentic cookie whose
        session is no longer stored (ended by a logout in another request,
        by ending its owner's sessions, or dropped by the store: an
        application may send such a visitor to its login page); ``None``
        otherwise.
        """
        return self._exchange._ended_reason

    @property
    def created_at(self) -> float:
        """When the session was created, on the injected clock."""
        self._live()
        return self._exchange._created_at

    def regenerate(self, *, owner: str | _Keep | None = _KEEP) -> None:
        """Give the session a new ID, keeping its data and its creation time.

        Call it on login (and on any change of privilege) to defeat session
        fixation. The old record is deleted; the absolute timeout is not
        extended.

        Args:
            owner: tie the session to this owner (a user ID, at login), or
                untie it with ``None``; by default the owner stays as it is.
                An owner is set only here, together with a new ID, so a
                session is never given an owner under an ID issued before.
                See docs/owners.md.

        Raises:
            TypeError, ValueError: `owner` is not a non-empty printable str
                of at most 128 UTF-8 bytes (or ``None``).

        """
        self._live()
        if owner is _KEEP:
            self._exchange._regenerate(None, set_owner=False)
        else:
            self._exchange._regenerate(
                None if owner is None else check_owner(owner), set_owner=True
            )

    @property
    def owner(self) -> str | None:
        """The owner this session is tied to (`regenerate`), or ``None``."""
        self._live()
        return self._exchange._owner

    @property
    def handle(self) -> str | None:
        """The handle this session has in its owner's list of sessions
        (`satchel.SessionInfo.handle`), or ``None`` if it is not stored yet.
        """
        self._live()
        key = self._exchange._loaded_key
        return None if key is None else session_handle(key)

    @property
    def label(self) -> str | None:
        """A short, application-chosen description shown when the owner lists
        their sessions (a browser or device name), or ``None``.

        Set it to a printable str of at most 128 UTF-8 bytes; ``""`` or
        ``None`` removes it. It is stored with the session, so keep secrets
        out of it.
        """
        self._live()
        return self._exchange._label

    @label.setter
    def label(self, value: str | None) -> None:
        self._live()
        self._exchange._set_label(None if value is None or value == "" else check_label(value))

    def end_other_sessions(self) -> None:
        """End every other session of this session's owner when the request
        finishes ("sign out of all other devices", after a password change).

        Sessions of the owner that exist when the request saves are deleted,
        except this one; their cookies then open fresh sessions whose
        ``ended_reason`` is ``"ended"``. `satchel.Outcome.sessions_ended`
        says how many were ended.

        Raises:
            satchel.OwnerIndexUnavailable: cookie storage, or a store
                without an owner index.
            satchel.ProtocolError: the session has no owner.

        """
        self._live()
        self._exchange._request_end_others()

    def invalidate(self) -> None:
        """End the session: its data is dropped, its record deleted, its cookie
        expired. Anything stored afterwards in this request starts a new
        session (for example a flash message saying "logged out").
        """
        self._live()
        self._data.clear()
        self._outgoing_flash.clear()
        self._flashed = {}
        self._exchange._invalidate()
