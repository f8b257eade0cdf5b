"""Inputs the fuzz targets failed on, pinned as plain tests.

Each test holds the failing input as bytes, so a defect the fuzzing found
in the core never comes back.
"""

from __future__ import annotations

import struct

import pytest

from fuzz import record_unpack, session_exchange
from satchel import SessionProtocol, UnstorableValue
from satchel._record import EMPTY_MAP_BLOB, Record, check_map, pack_record

from ..conftest import SECRET

# -- session_exchange -----------------------------------------------------

# As the fuzzer found it: a chunk count written with a superscript two.
SUPERSCRIPT_CHUNK_COUNT = (
    b"@\x05uycQhbD; session=5.hXilq1BoXvPDek_m_0QhbD; session=2.hXil\xd8q1Bo"
    b"XvPDek_m_0;0sess\x01uOL\x88\x88ycQhbD; session=\xb2.hXilq1BoXvPD\x88\x88\x88"
)


def test_fuzzed_chunk_count_that_is_not_an_ascii_number() -> None:
    session_exchange.check(SUPERSCRIPT_CHUNK_COUNT)


@pytest.mark.parametrize("count", ["\u00b2", "\u0662", "\uff12", "1\u00b2"])
@pytest.mark.parametrize("protocol", session_exchange.PROTOCOLS[:2], ids=["plain", "chunked"])
def test_a_chunk_count_in_other_digits_is_a_fresh_session(
    protocol: SessionProtocol, count: str
) -> None:
    # str.isdigit() accepts these, and int() raises for some of them: a
    # client's cookie must end as a fresh session, never as an exception.
    header = f"session={count}.abc; session.1=def"
    exchange = protocol.begin(header, now=session_exchange.T0)
    exchange.open()
    assert exchange.session.is_new
    # "invalid", or None where the parser skips a non-ASCII value altogether.
    assert exchange.session.ended_reason in ("invalid", None)
    exchange.finish()
    assert exchange.outcome.set_cookie_headers == ()


# As the fuzzer found it: a header with ";  session=" (two spaces), presented
# as fields split at "; " (as HTTP/2 may send them). satchel joins fields
# with ";", so the pair reads as "; session=": the oracle must judge the text
# satchel reads, not the header before it was split.
SPLIT_FIELD_WITH_A_LEADING_SPACE = (
    b"\x00\x00\x00\xfc\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00 "
    + b"\x00" * 23
    + b"\x1b\x1b\x1b[\x1b\x1b\x00\x00\x00\x00\x00\x00 se\x00\x03\x00;  session=AYwkC46rVMe=dark; "
    b"ses\x02'\x1b\x1b\x1b[\x1b\x1b1\x00\x00s"
)


def test_fuzzed_split_field_with_a_leading_space() -> None:
    session_exchange.check(SPLIT_FIELD_WITH_A_LEADING_SPACE)


def test_fields_are_joined_without_the_space() -> None:
    protocol = session_exchange.PROTOCOLS[0]
    exchange = protocol.begin(["theme=dark", " session=junk"], now=session_exchange.T0)
    assert dict(exchange.request_cookies) == {"theme": "dark", "session": "junk"}


def test_the_fuzz_keyring_is_not_the_tests_one() -> None:
    # The committed seed corpus holds cookies sealed with the target's secret.
    assert session_exchange.SECRET != SECRET


# -- record_unpack --------------------------------------------------------


def _record(data_blob: bytes) -> bytes:
    return pack_record(
        created_at=1.7e9, last_access=1.7e9, flash_blob=EMPTY_MAP_BLOB, data_blob=data_blob
    )


def _storable(record: Record | None) -> bool:
    if record is None:
        return True
    try:
        check_map(record.data)
        check_map(record.flash)
    except UnstorableValue:
        return False
    return True


# As the fuzzer found it: a seed record whose flash map gained 100 levels of lists.
DEEP_RECORD = (
    b"\x01A\xd9T\xfc@\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x0e\x81\xa6"
    b"notice\xa5saved\x88\xa4usere\xa3r\x02\x00\x01\xa1f\xcb?\xf8\x00\x00\x00ice\xa5saved"
    b"\x88\xa4alice\xa1n\x03\xa4cart\x91\x82\xa3sku1\xa3qty\x02\xa4when\xd6\xffiW5\xa5\xa3"
    b"ra\x00\x01\xa1n\x03\xa4cart\x82\xa3sA-0\xa3qty\x02\xa4when\x91\xd6\xffiW0\xa5\xa3r"
    b"\x02\x00\x01\xa1f\xcb?\xf8\x00\x00\x00ice\xa5s?ved" + b"\x91" * 100 + b"\x88\xa4alice"
    b"\xa1n\x03\xa4cart\x91\x82\xa3sku1\xa3qty\x02\xa4when\xd6\xffiW5\xa5\xa3ra\x00\x01\xa1]"
    b"\xcb?\xf8\x00\x00\x00\x00\x00\x00\xa2\x00\x00\x00\xa2ok\xc3\xa4none\x91;"
)


# As the fuzzer found it: a second-version record with a label and no owner,
# which the target re-packed without its label.
LABEL_ONLY_RECORD = (
    b"\x02\x00.\xd9T\x02\x00\x00\xff\x0e\x00\xd9T\xfc\x02@\x00\x00\x00\x00\x01\x00\x01?\x80\x80"
)


def test_fuzzed_record_with_a_label_and_no_owner() -> None:
    record_unpack.check(LABEL_ONLY_RECORD)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(DEEP_RECORD, id="fuzzed-deep-nesting"),
        pytest.param(_record(b"\x81\xa1k" + b"\x91" * 40 + b"\xc0"), id="deep-nesting"),
        pytest.param(_record(b"\x81\xc4\x01k\x01"), id="bytes-key"),
        pytest.param(_record(b"\x81\xa1k\x81\xc4\x01k\x01"), id="nested-bytes-key"),
    ],
)
def test_an_unpacked_record_can_be_stored_again(raw: bytes) -> None:
    # The exchange re-packs what it loaded on every change; data it cannot
    # re-pack would fail every later request of that session.
    assert _storable(Record.unpack(raw))


@pytest.mark.parametrize("seconds", [2**62, -(2**62), 253_402_300_800])
def test_a_timestamp_past_datetime_is_a_malformed_record(seconds: int) -> None:
    # msgpack's 96-bit timestamp extension: nanoseconds, then seconds.
    raw = _record(b"\x81\xa1t\xc7\x0c\xff" + struct.pack(">Iq", 0, seconds))
    assert Record.unpack(raw) is None


def test_an_authenticated_record_skips_the_storability_walk() -> None:
    # Bytes only satchel can have sealed were checked by pack_map before they
    # were sealed; the walk is for bytes from a store.
    raw = _record(b"\x81\xc4\x01k\x01")  # a bytes key
    assert Record.unpack(raw) is None
    record = Record.unpack(raw, authenticated=True)
    assert record is not None
    assert record.data == {b"k": 1}
