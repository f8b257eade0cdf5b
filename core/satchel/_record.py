"""The session's stored form, packed with msgpack (never pickle).

A packed record is a fixed header followed by two msgpack maps::

    version (1) | created_at (8, float) | last_access (8, float)
    | length of flash (4) | flash (msgpack map) | data (msgpack map)

A session with an owner or a label (see docs/owners.md) is packed as
version 2, whose header goes on with both as UTF-8 before the maps::

    version 2 (1) | created_at (8) | last_access (8) | length of flash (4)
    | length of owner (1) | length of label (1) | owner | label | flash | data

A session with neither is packed as version 1, byte for byte as before
version 2 existed, and both versions are read.

Keeping ``data`` as its own msgpack blob lets the exchange detect changes by
comparing bytes with what it loaded, without packing anything twice, and a
fixed header costs no parsing.

What the record holds: ``None``, ``bool``, ``int`` (64-bit), ``float``,
``str``, ``bytes``, ``list``, ``dict`` with ``str`` keys, and timezone-aware
``datetime`` (it comes back in UTC). Tuples are stored as lists and come back
as lists. Anything else (sets, naive datetimes, enums, custom classes, ints
over 64 bits, non-string keys, nesting deeper than `MAX_DEPTH`) is refused
with `UnstorableValue` naming the session key.
"""

from __future__ import annotations

import datetime as _dt
import struct
import threading
from collections.abc import Mapping
from typing import Any, Final, final

import msgpack

from ._errors import UnstorableValue

__all__ = [
    "EMPTY_MAP_BLOB",
    "MAX_DEPTH",
    "MAX_LABEL_BYTES",
    "MAX_OWNER_BYTES",
    "OWNED_RECORD_VERSION",
    "RECORD_VERSION",
    "Record",
    "check_label",
    "check_map",
    "check_owner",
    "pack_map",
    "pack_record",
    "read_header",
    "unpack_map",
]

RECORD_VERSION: Final = 1
# The version of a record that carries an owner or a label.
OWNED_RECORD_VERSION: Final = 2
MAX_OWNER_BYTES: Final = 128
"""The longest owner, in UTF-8 bytes (a user ID, an account number)."""
MAX_LABEL_BYTES: Final = 128
"""The longest label, in UTF-8 bytes (a device or browser name)."""
# Levels of lists and dicts, counting the session itself as the first: a
# session value may hold 31 levels (docs/record.md).
MAX_DEPTH: Final = 32
# Sessions live in cookies (4 KB) or in a store; a record over this size is
# refused when read, which bounds what a corrupt or hostile blob can cost.
MAX_RECORD_BYTES: Final = 1 << 24

_HEADER = struct.Struct(">BddI")
_OWNED_HEADER = struct.Struct(">BddIBB")


class _Unstorable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _default(value: object) -> object:
    # Called by msgpack for every value it cannot pack natively. With
    # strict_types, subclasses land here too, so an Enum is refused instead of
    # being silently stored as its base type.
    if type(value) is tuple:
        return list(value)
    if type(value) is int:
        raise _Unstorable("an int does not fit in 64 bits")
    if isinstance(value, _dt.datetime):
        raise _Unstorable(
            "a naive datetime cannot be stored; attach a timezone (it is stored as UTC)"
        )
    raise _Unstorable(f"values of type {type(value).__name__} cannot be stored")


_local = threading.local()


def _packb(value: object) -> bytes:
    # One Packer per thread, reused: building one per call costs more than
    # packing a typical session. A Packer resets its buffer after an error.
    try:
        packer = _local.packer
    except AttributeError:
        packer = _local.packer = msgpack.Packer(
            use_bin_type=True, strict_types=True, datetime=True, default=_default
        )
    return packer.pack(value)  # type: ignore[no-any-return]


def _refuse_ext(code: int, data: bytes) -> object:
    raise ValueError("unknown msgpack extension type")


def _unpackb(blob: bytes) -> Any:
    return msgpack.unpackb(
        blob,
        raw=False,
        strict_map_key=True,
        timestamp=3,
        ext_hook=_refuse_ext,
    )


_CONTAINERS = (dict, list, tuple)


def _check(value: object, depth: int) -> str | None:
    """Why `value` would not round-trip (string keys, depth), or None.

    Only containers are visited: leaves were already accepted by the packer,
    and skipping them keeps this walk cheap on the hot path.
    """
    if depth >= MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                return f"a nested mapping has a key of type {type(key).__name__}; keys must be str"
            if type(item) in _CONTAINERS:
                problem = _check(item, depth + 1)
                if problem is not None:
                    return problem
    else:
        for item in value:  # type: ignore[attr-defined]
            if type(item) in _CONTAINERS:
                problem = _check(item, depth + 1)
                if problem is not None:
                    return problem
    return None


def _storable(values: dict[Any, Any]) -> bool:
    """True if `check_map` would accept `values` (without raising)."""
    for key, value in values.items():
        if type(key) is not str:
            return False
        if type(value) in _CONTAINERS and _check(value, 1) is not None:
            return False
    return True


def check_map(values: Mapping[str, Any]) -> None:
    """Check that every nested key is a str and nesting is bounded.

    Raises:
        UnstorableValue: naming the session key at fault.

    """
    for key, value in values.items():
        if type(key) is not str:
            raise UnstorableValue(repr(key), "session keys must be str")
        if type(value) in _CONTAINERS:
            problem = _check(value, 1)
            if problem is not None:
                raise UnstorableValue(key, problem)


def pack_map(values: Mapping[str, Any], *, check: bool = True) -> bytes:
    """Pack a session's data (or flash) map.

    Raises:
        UnstorableValue: naming the first key whose value the record cannot hold.

    """
    try:
        packed = _packb(values)
    except (_Unstorable, TypeError, ValueError, OverflowError):
        pass  # find the key at fault below
    else:
        if check:
            check_map(values)
        return packed
    check_map(values)
    for key, value in values.items():
        try:
            _packb(value)
        except _Unstorable as error:
            raise UnstorableValue(key, error.reason) from None
        except OverflowError:
            raise UnstorableValue(key, "an int does not fit in 64 bits") from None
        except (TypeError, ValueError) as error:
            raise UnstorableValue(key, str(error)) from None
    raise UnstorableValue("?", "the session cannot be packed")  # pragma: no cover


def _check_text(name: str, value: object, limit: int, *, empty: bool) -> str:
    if type(value) is not str:
        raise TypeError(f"{name}: must be a str, not {type(value).__name__}")
    size = len(value.encode("utf-8", "surrogatepass"))
    if not empty and size == 0:
        raise ValueError(f"{name}: must not be empty")
    if size > limit:
        raise ValueError(f"{name}: at most {limit} UTF-8 bytes, got {size}")
    # Lone surrogates are not printable either: what passes encodes as UTF-8.
    if not value.isprintable():
        raise ValueError(f"{name}: must hold printable characters only (no controls)")
    return value


def check_owner(owner: object) -> str:
    """`owner` if it can be stored: a non-empty printable str of at most
    `MAX_OWNER_BYTES` UTF-8 bytes.

    Raises:
        TypeError: not a str.
        ValueError: empty, too long, or holding control characters.

    """
    return _check_text("owner", owner, MAX_OWNER_BYTES, empty=False)


def check_label(label: object) -> str:
    """`label` if it can be stored: a printable str of at most
    `MAX_LABEL_BYTES` UTF-8 bytes.

    Raises:
        TypeError: not a str.
        ValueError: too long, or holding control characters.

    """
    return _check_text("label", label, MAX_LABEL_BYTES, empty=True)


@final
class Record:
    """A session as stored: data, flash, timestamps, and its owner and label."""

    __slots__ = (
        "created_at",
        "data",
        "data_blob",
        "flash",
        "flash_blob",
        "label",
        "last_access",
        "owner",
    )

    def __init__(  # noqa: PLR0917 - built positionally, once per request, by unpack
        self,
        created_at: float,
        last_access: float,
        data: dict[str, Any],
        flash: dict[str, Any],
        data_blob: bytes,
        flash_blob: bytes,
        owner: str | None = None,
        label: str | None = None,
    ) -> None:
        self.created_at = created_at
        self.last_access = last_access
        self.data = data
        self.flash = flash
        self.data_blob = data_blob
        self.flash_blob = flash_blob
        self.owner = owner
        self.label = label

    def __repr__(self) -> str:
        return f"<Record of {len(self.data)} key(s)>"

    @classmethod
    def unpack(cls, raw: bytes, *, authenticated: bool = False) -> Record | None:
        """Open a packed record; ``None`` for anything malformed (never raises).

        Data that msgpack reads but `pack_map` would refuse (``bytes`` keys,
        nesting past `MAX_DEPTH`) is malformed too, since every later save of
        the session would fail on it. Checking that costs about as much as
        unpacking, so `authenticated` skips it for bytes only satchel can have
        written (opened with its AEAD key: `pack_map` checked them before
        they were sealed). Bytes from a store are never authenticated.
        """
        if len(raw) > MAX_RECORD_BYTES or len(raw) < _HEADER.size:
            return None
        owner = label = None
        if raw[0] == RECORD_VERSION:
            _, created_at, last_access, flash_length = _HEADER.unpack_from(raw)
            flash_start = _HEADER.size
        elif raw[0] == OWNED_RECORD_VERSION:
            owned = _unpack_owned_header(raw)
            if owned is None:
                return None
            created_at, last_access, flash_length, flash_start, owner, label = owned
        else:
            return None
        flash_end = flash_start + flash_length
        if flash_end >= len(raw):
            return None
        flash_blob = raw[flash_start:flash_end]
        data_blob = raw[flash_end:]
        try:
            data = _unpackb(data_blob)
            flash = _unpackb(flash_blob) if flash_blob != _EMPTY_MAP else {}
        except Exception:
            # Whatever the bytes make msgpack raise (a malformed map, a
            # timestamp past datetime's range, ...): the record is malformed.
            return None
        if type(data) is not dict or type(flash) is not dict:
            return None
        # What msgpack accepts but pack_map refuses (bytes keys, nesting past
        # MAX_DEPTH) would fail every later save of the session: malformed too.
        if not authenticated and not (_storable(data) and _storable(flash)):
            return None
        # Positional: keyword arguments cost a measurable share of opening a
        # session, on every request.
        if owner is None and label is None:
            return cls(created_at, last_access, data, flash, data_blob, flash_blob)
        return cls(created_at, last_access, data, flash, data_blob, flash_blob, owner, label)


def read_header(raw: bytes) -> tuple[float, float, str | None, str | None] | None:
    """``(created_at, last_access, owner, label)`` of a packed record, without
    unpacking its maps (listing an owner's sessions reads only this); ``None``
    if the header is malformed.
    """
    if len(raw) > MAX_RECORD_BYTES or len(raw) < _HEADER.size:
        return None
    if raw[0] == RECORD_VERSION:
        _, created_at, last_access, _ = _HEADER.unpack_from(raw)
        return created_at, last_access, None, None
    if raw[0] == OWNED_RECORD_VERSION:
        owned = _unpack_owned_header(raw)
        if owned is not None:
            return owned[0], owned[1], owned[4], owned[5]
    return None


def _unpack_owned_header(
    raw: bytes,
) -> tuple[float, float, int, int, str | None, str | None] | None:
    """A version 2 header: (created_at, last_access, length of flash, where
    the flash starts, owner, label), or ``None`` if it is malformed.
    """
    if len(raw) < _OWNED_HEADER.size:
        return None
    _, created_at, last_access, flash_length, owner_length, label_length = (
        _OWNED_HEADER.unpack_from(raw)
    )
    owner_end = _OWNED_HEADER.size + owner_length
    label_end = owner_end + label_length
    if label_end > len(raw) or owner_length > MAX_OWNER_BYTES or label_length > MAX_LABEL_BYTES:
        return None
    try:
        owner = raw[_OWNED_HEADER.size : owner_end].decode("utf-8") if owner_length else None
        label = raw[owner_end:label_end].decode("utf-8") if label_length else None
    except UnicodeDecodeError:
        return None
    # What check_owner and check_label refuse is malformed, as for the maps:
    # an owner with control characters could not be saved again.
    if (owner is not None and not owner.isprintable()) or (
        label is not None and not label.isprintable()
    ):
        return None
    if owner is None and label is None:
        return None  # version 2 is only written for one of them: not canonical
    return created_at, last_access, flash_length, label_end, owner, label


_EMPTY_MAP: Final = _packb({})


def pack_record(
    *,
    created_at: float,
    last_access: float,
    flash_blob: bytes,
    data_blob: bytes,
    owner: str | None = None,
    label: str | None = None,
) -> bytes:
    """Pack a record from already-packed data and flash maps.

    Version 1 without an owner or a label (the same bytes as before version
    2 existed), version 2 with either; both were checked by `check_owner`
    and `check_label` when they were set. An empty label is no label.
    """
    if owner is None and not label:
        return (
            _HEADER.pack(RECORD_VERSION, created_at, last_access, len(flash_blob))
            + flash_blob
            + data_blob
        )
    owner_bytes = owner.encode("utf-8") if owner is not None else b""
    label_bytes = label.encode("utf-8") if label else b""
    return (
        _OWNED_HEADER.pack(
            OWNED_RECORD_VERSION,
            created_at,
            last_access,
            len(flash_blob),
            len(owner_bytes),
            len(label_bytes),
        )
        + owner_bytes
        + label_bytes
        + flash_blob
        + data_blob
    )


def unpack_map(blob: bytes) -> dict[str, Any]:
    """Unpack a map packed by `pack_map` (used to re-read loaded data)."""
    value = _unpackb(blob)
    assert type(value) is dict
    return value


EMPTY_MAP_BLOB: Final = _EMPTY_MAP
