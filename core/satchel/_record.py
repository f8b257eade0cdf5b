"""The session's stored form, packed with msgpack (never pickle).

A packed record is a fixed header followed by two msgpack maps::

    version (1) | created_at (8, float) | last_access (8, float)
    | length of flash (4) | flash (msgpack map) | data (msgpack map)

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
    "RECORD_VERSION",
    "Record",
    "check_map",
    "pack_map",
    "pack_record",
    "unpack_map",
]

RECORD_VERSION: Final = 1
# Levels of lists and dicts, counting the session itself as the first: a
# session value may hold 31 levels (docs/record.md).
MAX_DEPTH: Final = 32
# Sessions live in cookies (4 KB) or in a store; a record over this size is
# refused when read, which bounds what a corrupt or hostile blob can cost.
MAX_RECORD_BYTES: Final = 1 << 24

_HEADER = struct.Struct(">BddI")


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


@final
class Record:
    """A session as stored: data, flash, timestamps (and, server side, revision)."""

    __slots__ = (
        "created_at",
        "data",
        "data_blob",
        "flash",
        "flash_blob",
        "last_access",
    )

    def __init__(  # noqa: PLR0917 - built positionally, once per request, by unpack
        self,
        created_at: float,
        last_access: float,
        data: dict[str, Any],
        flash: dict[str, Any],
        data_blob: bytes,
        flash_blob: bytes,
    ) -> None:
        self.created_at = created_at
        self.last_access = last_access
        self.data = data
        self.flash = flash
        self.data_blob = data_blob
        self.flash_blob = flash_blob

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
        if len(raw) > MAX_RECORD_BYTES or len(raw) < _HEADER.size or raw[0] != RECORD_VERSION:
            return None
        _, created_at, last_access, flash_length = _HEADER.unpack_from(raw)
        flash_end = _HEADER.size + flash_length
        if flash_end >= len(raw):
            return None
        flash_blob = raw[_HEADER.size : flash_end]
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
        return cls(created_at, last_access, data, flash, data_blob, flash_blob)


_EMPTY_MAP: Final = _packb({})


def pack_record(
    *, created_at: float, last_access: float, flash_blob: bytes, data_blob: bytes
) -> bytes:
    """Pack a record from already-packed data and flash maps."""
    return (
        _HEADER.pack(RECORD_VERSION, created_at, last_access, len(flash_blob))
        + flash_blob
        + data_blob
    )


def unpack_map(blob: bytes) -> dict[str, Any]:
    """Unpack a map packed by `pack_map` (used to re-read loaded data)."""
    value = _unpackb(blob)
    assert type(value) is dict
    return value


EMPTY_MAP_BLOB: Final = _EMPTY_MAP
