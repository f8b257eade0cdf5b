from __future__ import annotations

import datetime as dt
import enum
import struct
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from satchel import UnstorableValue
from satchel._record import (
    MAX_DEPTH,
    Record,
    check_map,
    pack_map,
    pack_record,
    unpack_map,
)

json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), json_like, max_size=6))
def test_storable_values_round_trip(data: dict[str, Any]) -> None:
    assert unpack_map(pack_map(data)) == data


def test_tuples_come_back_as_lists_and_datetimes_in_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    moment = dt.datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=paris)
    back = unpack_map(pack_map({"pair": (1, 2), "when": moment}))
    assert back["pair"] == [1, 2]
    assert back["when"] == moment
    assert back["when"].utcoffset() == dt.timedelta(0)


class Colour(enum.Enum):
    RED = "red"


class Level(enum.StrEnum):
    HIGH = "high"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({1, 2}, "set"),
        (frozenset(), "frozenset"),
        (dt.datetime(2026, 1, 1), "naive datetime"),
        (dt.date(2026, 1, 1), "date"),
        (Colour.RED, "Colour"),
        (Level.HIGH, "Level"),
        (2**64, "64 bits"),
        (object(), "object"),
        ({"inner": {1: "x"}}, "key of type int"),
        ([{"deep": {3.5: 1}}], "key of type float"),
    ],
)
def test_unstorable_values_name_the_key(value: object, fragment: str) -> None:
    data = {"fine": 1, "culprit": value}

    def pack_and_check() -> None:
        pack_map(data)
        check_map(data)

    with pytest.raises(UnstorableValue, match=fragment) as info:
        pack_and_check()
    assert info.value.key == "culprit"
    assert "culprit" in str(info.value)


def test_non_str_top_level_key_is_refused() -> None:
    with pytest.raises(UnstorableValue, match="must be str"):
        pack_map({1: "x"})  # type: ignore[dict-item]


def test_depth_is_bounded() -> None:
    value: Any = "leaf"
    for _ in range(MAX_DEPTH + 1):
        value = [value]
    with pytest.raises(UnstorableValue, match="deeper than"):
        check_map({"deep": value})
    shallow: Any = "leaf"
    for _ in range(MAX_DEPTH - 2):
        shallow = [shallow]
    check_map({"ok": shallow})


def _record(**overrides: Any) -> bytes:
    fields: dict[str, Any] = {
        "created_at": 10.0,
        "last_access": 20.0,
        "flash_blob": pack_map({"m": "hi"}),
        "data_blob": pack_map({"user": "ada"}),
    }
    fields.update(overrides)
    return pack_record(**fields)


def test_record_round_trip() -> None:
    record = Record.unpack(_record())
    assert record is not None
    assert (record.created_at, record.last_access) == (10.0, 20.0)
    assert record.data == {"user": "ada"}
    assert record.flash == {"m": "hi"}
    assert "ada" not in repr(record)


def _raw(flash: bytes, data: bytes, *, version: int = 1, flash_length: int | None = None) -> bytes:
    length = len(flash) if flash_length is None else flash_length
    return struct.pack(">BddI", version, 10.0, 20.0, length) + flash + data


EMPTY = msgpack.packb({})


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x01",
        _record()[:20],  # a truncated header
        b"\x02" + _record()[1:],  # an unknown version
        _record()[:-3],  # a truncated data map
        _raw(EMPTY, b""),  # no data at all
        _raw(EMPTY, msgpack.packb({}), flash_length=1000),  # flash longer than the record
        _raw(EMPTY, msgpack.packb([1, 2])),  # data is not a map
        _raw(msgpack.packb([1]), msgpack.packb({})),  # flash is not a map
        _raw(EMPTY, msgpack.packb({1: 2})),  # a non-string key
        _raw(EMPTY, msgpack.packb({"x": msgpack.ExtType(42, b"z")})),  # a foreign ext type
        _raw(EMPTY, msgpack.packb({}) + b"trailing"),  # extra bytes after the map
        _raw(EMPTY, b"\xc1"),  # a reserved msgpack byte
    ],
)
def test_malformed_records_open_to_nothing(raw: bytes) -> None:
    assert Record.unpack(raw) is None


@given(st.binary(max_size=512))
def test_garbage_records_never_raise(raw: bytes) -> None:
    Record.unpack(raw)
    Record.unpack(b"\x01" + raw)
