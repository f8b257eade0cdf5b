"""Fuzz target: unpacking a stored session record.

`Record.unpack` reads bytes from a store (which may hold anything after a
bug, a migration or an attack on the store), so it must return a `Record`
or ``None`` and never raise. A record it returns must be usable: its parts
(owner and label included) re-pack to the same bytes, and its data and flash
can be packed again (the exchange re-packs them on every save), coming back
equal.

Input layout: the raw record bytes.
"""

from __future__ import annotations

import math
from typing import Any

from satchel import UnstorableValue
from satchel._record import (
    EMPTY_MAP_BLOB,
    Record,
    check_label,
    check_map,
    check_owner,
    pack_map,
    pack_record,
    unpack_map,
)

from ._harness import fuzz

__all__ = ["check"]


def _same_floats(one: float, other: float) -> bool:
    return one == other or (math.isnan(one) and math.isnan(other))


def _repacks(values: dict[str, Any]) -> None:
    # Packing is deterministic but msgpack has several spellings of a value,
    # so compare after one round trip rather than with the loaded bytes.
    packed = pack_map(values)
    assert pack_map(unpack_map(packed)) == packed


def _storable(values: dict[str, Any]) -> bool:
    try:
        check_map(values)
    except UnstorableValue:
        return False
    return True


def check(data: bytes) -> None:
    """Unpack `data` as a record and assert the invariants."""
    record = Record.unpack(data)  # never raises
    if record is None:
        return
    assert type(record.created_at) is float
    assert type(record.last_access) is float
    assert type(record.data) is dict
    assert type(record.flash) is dict
    # An owner and a label are what the setters accept (version 2 records).
    if record.owner is not None:
        assert check_owner(record.owner) == record.owner
    if record.label is not None:
        assert check_label(record.label) == record.label
    repacked = pack_record(
        created_at=record.created_at,
        last_access=record.last_access,
        flash_blob=record.flash_blob,
        data_blob=record.data_blob,
        owner=record.owner,
        label=record.label,
    )
    assert repacked[0] == data[0]
    assert repacked[17:] == data[17:]
    reread = Record.unpack(repacked)
    assert reread is not None
    assert _same_floats(reread.created_at, record.created_at)
    assert _same_floats(reread.last_access, record.last_access)
    # What unpack accepts can be stored again (else every later save fails).
    assert _storable(record.data)
    assert _storable(record.flash)
    _repacks(record.data)
    _repacks(record.flash)
    if not record.flash:
        # The exchange stores an empty flash as the canonical empty map.
        assert pack_map(record.flash) == EMPTY_MAP_BLOB


if __name__ == "__main__":
    fuzz(check)
