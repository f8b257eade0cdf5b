"""Record behaviour that only a changed line of _record.py would break (make mutate)."""

from __future__ import annotations

import datetime as dt
import enum
import struct
import threading
from collections.abc import Callable
from typing import Any

import msgpack
import pytest

from satchel import UnstorableValue
from satchel._record import (
    Record,
    check_label,
    check_owner,
    pack_map,
    pack_record,
    read_header,
)

WHEN = dt.datetime(2024, 2, 29, 12, 0, 0, tzinfo=dt.UTC)
DATA: dict[str, Any] = {"user": "ada", "blob": b"\x00\xff", "when": WHEN, "pair": (1, 2)}
# The msgpack bytes of DATA, written out by hand: a 4-entry map; "blob" as bin 8
# (c4), not as a str; the datetime as the timestamp extension (d6 ff + 32-bit
# seconds); the tuple as an array.
PACKED_DATA = (
    b"\x84"
    + b"\xa4user\xa3ada"
    + b"\xa4blob\xc4\x02\x00\xff"
    + b"\xa4when\xd6\xff"
    + struct.pack(">I", int(WHEN.timestamp()))
    + b"\xa4pair\x92\x01\x02"
)


class Level(enum.IntEnum):
    HIGH = 3


def in_a_new_thread(function: Callable[[], Any]) -> Any:
    """`function()` run on a thread of its own (each thread packs with its own packer)."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(function())
        except Exception as error:  # handed back to the test's thread
            result.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    (outcome,) = result
    return outcome


def test_a_new_thread_packs_the_same_bytes() -> None:
    assert pack_map(DATA) == PACKED_DATA
    assert in_a_new_thread(lambda: pack_map(DATA)) == PACKED_DATA


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (Level.HIGH, "Level"),
        (dt.datetime(2024, 1, 1), "naive datetime"),
        ({1, 2}, "set"),
        (2**64, "64 bits"),
    ],
)
def test_a_new_thread_refuses_the_same_values(value: object, fragment: str) -> None:
    error = in_a_new_thread(lambda: pack_map({"culprit": value}))
    assert isinstance(error, UnstorableValue)
    assert error.key == "culprit"
    assert fragment in error.reason


def test_a_naive_datetime_is_refused_with_the_hint_to_attach_a_time_zone() -> None:
    with pytest.raises(UnstorableValue, match=r"attach a timezone \(it is stored as UTC\)"):
        pack_map({"when": dt.datetime(2024, 1, 1)})


@pytest.mark.parametrize(
    ("key", "named"),
    [(1, "1"), (b"k", "b'k'"), (None, "None")],
)
def test_a_session_key_that_is_not_a_str_is_named_in_the_error(key: object, named: str) -> None:
    with pytest.raises(UnstorableValue, match="session keys must be str") as info:
        pack_map({key: "x"})  # type: ignore[dict-item]
    assert info.value.key == named


def test_a_string_that_cannot_be_encoded_names_its_key_and_the_reason() -> None:
    with pytest.raises(UnstorableValue) as info:
        pack_map({"fine": 1, "culprit": "\ud800"})
    assert info.value.key == "culprit"
    assert "surrogates not allowed" in info.value.reason


def packed(data: bytes) -> bytes:
    return pack_record(created_at=1.0, last_access=2.0, flash_blob=pack_map({}), data_blob=data)


@pytest.mark.parametrize("authenticated", [False, True])
def test_a_map_key_that_is_not_a_string_is_malformed_even_when_authenticated(
    authenticated: bool,
) -> None:
    raw = packed(msgpack.packb({"fine": 1, 7: "x"}))
    assert Record.unpack(raw, authenticated=authenticated) is None


def test_a_top_level_bytes_key_from_a_store_is_malformed() -> None:
    raw = packed(msgpack.packb({"fine": 1, b"raw": "x"}, use_bin_type=True))
    assert Record.unpack(raw) is None


def test_an_opened_record_keeps_the_bytes_of_its_maps() -> None:
    flash_blob = pack_map({"notice": "saved"})
    raw = pack_record(created_at=1.0, last_access=2.0, flash_blob=flash_blob, data_blob=PACKED_DATA)
    record = Record.unpack(raw)
    assert record is not None
    assert record.data_blob == PACKED_DATA
    assert record.flash_blob == flash_blob
    assert record.data["pair"] == [1, 2]


# ---------------------------------------------------------------- owner and label (version 2)


def owned(owner: bytes, label: bytes, flash: bytes, data: bytes) -> bytes:
    """A version 2 record laid out as docs/record.md says."""
    lengths = struct.pack(">BddIBB", 2, 1.0, 2.0, len(flash), len(owner), len(label))
    return lengths + owner + label + flash + data


def test_owner_and_label_errors_name_the_field() -> None:
    with pytest.raises(TypeError, match=r"^owner: must be a str, not int$"):
        check_owner(5)
    with pytest.raises(TypeError, match=r"^label: must be a str, not bytes$"):
        check_label(b"tablet")
    with pytest.raises(ValueError, match=r"^owner: must not be empty$"):
        check_owner("")


def test_an_empty_label_is_allowed_and_packs_as_the_first_version() -> None:
    assert check_label("") == ""
    raw = pack_record(
        created_at=1.0, last_access=2.0, flash_blob=pack_map({}), data_blob=PACKED_DATA, label=""
    )
    assert raw[0] == 1


def test_a_label_without_an_owner_is_packed_and_opened() -> None:
    flash = pack_map({"notice": "saved"})
    raw = pack_record(
        created_at=1.0, last_access=2.0, flash_blob=flash, data_blob=PACKED_DATA, label="tablet"
    )
    assert raw == owned(b"", b"tablet", flash, PACKED_DATA)
    record = Record.unpack(raw)
    assert record is not None
    assert (record.owner, record.label) == (None, "tablet")
    assert record.flash == {"notice": "saved"}
    assert record.data["user"] == "ada"


def test_an_owned_record_keeps_its_flash_messages() -> None:
    flash = pack_map({"notice": "saved"})
    record = Record.unpack(owned(b"ada", b"", flash, PACKED_DATA))
    assert record is not None
    assert (record.owner, record.label) == ("ada", None)
    assert record.flash == {"notice": "saved"}
    assert record.flash_blob == flash


def test_read_header_reads_a_first_version_record() -> None:
    raw = packed(PACKED_DATA)
    assert read_header(raw) == (1.0, 2.0, None, None)


def test_read_header_reads_the_header_alone_without_the_maps() -> None:
    assert read_header(struct.pack(">BddI", 1, 1.0, 2.0, 0)) == (1.0, 2.0, None, None)
    assert read_header(owned(b"ada", b"tablet", b"", b"")) == (1.0, 2.0, "ada", "tablet")


def test_read_header_takes_records_of_up_to_16_mib() -> None:
    head = struct.pack(">BddI", 1, 1.0, 2.0, 1)
    raw = head + b"\x80" + b"\x00" * (16 * 1024 * 1024 - len(head) - 1)
    assert len(raw) == 16_777_216
    assert read_header(raw) == (1.0, 2.0, None, None)
    assert read_header(raw + b"\x00") is None
