"""Documented limits and renderings, pinned with literal numbers.

Every number here is the documented value written out (docs/security.md,
docs/record.md, docs/cookies.md), never the constant that implements it, so
a change to a constant fails a test instead of silently moving a promise.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgpack
import pytest

from satchel import (
    ConfigurationError,
    CookieError,
    Keyring,
    SessionProtocol,
    Settings,
    UnstorableValue,
)
from satchel._cookies import (
    SetCookie,
    cookie_attributes,
    format_http_date,
    parse_cookie_pairs,
    render_delete_cookie,
    render_set_cookie,
    validate_domain,
)
from satchel._record import Record, check_map, pack_map
from satchel._seal import Sealer, b64decode

from ..conftest import SECRET

KIB = 1024
MIB = 1024 * 1024

# ---------------------------------------------------------------- Set-Cookie


def test_persistent_cookie_keeps_its_expires() -> None:
    # 2001-09-09T01:46:40Z; a cookie given only Expires must not become a
    # browser-session cookie.
    cookie = SetCookie(name="remember", value="1", expires=1_000_000_000)
    expected = (
        "remember=1; Path=/; Secure; HttpOnly; SameSite=Lax; Expires=Sun, 09 Sep 2001 01:46:40 GMT"
    )
    assert cookie.render() == expected
    assert render_set_cookie("remember", "1", expires=1_000_000_000) == expected
    # With now, Expires is kept (well within 400 days of now).
    assert cookie.render(now=999_000_000) == expected


def test_persistent_cookie_keeps_max_age_and_expires() -> None:
    cookie = SetCookie(name="remember", value="1", max_age=3600)
    assert cookie.render() == "remember=1; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=3600"
    assert cookie.render(now=1_000_000_000) == (
        "remember=1; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=3600; "
        "Expires=Sun, 09 Sep 2001 02:46:40 GMT"
    )


def test_expires_is_capped_to_four_hundred_days() -> None:
    now = 1_000_000_000
    far = SetCookie(name="a", value="1", expires=now + 401 * 86400)
    # 400 days after 2001-09-09T01:46:40Z is 2002-10-14T01:46:40Z.
    assert far.render(now=now).endswith("; Expires=Mon, 14 Oct 2002 01:46:40 GMT")
    assert render_set_cookie("a", "1", max_age=10**9, now=now).endswith(
        "; Max-Age=34560000; Expires=Mon, 14 Oct 2002 01:46:40 GMT"
    )


def test_delete_cookie_keeps_partitioned_http_only_and_same_site() -> None:
    assert render_delete_cookie("id", partitioned=True, same_site="strict") == (
        "id=; Path=/; Secure; HttpOnly; SameSite=Strict; Partitioned; "
        "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
    )
    assert render_delete_cookie("id", http_only=False, same_site="none", path="/app") == (
        "id=; Path=/app; Secure; SameSite=None; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
    )
    assert render_delete_cookie("id", same_site=None, domain="example.com") == (
        "id=; Path=/; Domain=example.com; Secure; HttpOnly; "
        "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
    )


def test_session_cookie_deletion_keeps_partitioned() -> None:
    settings = Settings(keyring=Keyring([SECRET]), partitioned=True, same_site="none")
    protocol = SessionProtocol(settings, storage="cookie")
    first = protocol.begin(None, now=1_000_000_000)
    first.open()
    first.session["user"] = "ada"
    assert first.finish() is None
    (set_cookie,) = first.outcome.set_cookie_headers
    assert set_cookie.endswith("; Secure; HttpOnly; SameSite=None; Partitioned")
    exchange = protocol.begin(set_cookie.split(";")[0], now=1_000_000_001)
    exchange.open()
    exchange.session.invalidate()
    assert exchange.finish() is None
    assert exchange.outcome.set_cookie_headers == (
        "session=; Path=/; Secure; HttpOnly; SameSite=None; Partitioned; "
        "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    )


# ---------------------------------------------------------------- Cookie header


def test_header_of_exactly_32_kib_is_read_whole() -> None:
    header = "a=" + "x" * (32 * KIB - 2)
    assert len(header) == 32768
    assert parse_cookie_pairs(header) == [("a", "x" * 32766)]


def test_pair_straddling_32_kib_is_dropped_whole() -> None:
    assert parse_cookie_pairs("a=" + "x" * (32 * KIB - 1)) == []
    first = "a=" + "x" * (16 * KIB - 2)  # 16384 characters
    second = "b=" + "y" * (16 * KIB - 3)  # 16383: with "; " ends at 32769
    assert parse_cookie_pairs(f"{first};{second}") == [("a", "x" * 16382), ("b", "y" * 16381)]
    assert parse_cookie_pairs(f"{first}; {second}") == [("a", "x" * 16382)]


def test_pair_ending_at_32_kib_is_kept_and_the_next_ignored() -> None:
    header = "a=" + "x" * (32 * KIB - 2) + ";b=1"
    assert parse_cookie_pairs(header) == [("a", "x" * 32766)]


def fields_totalling(joined_length: int) -> list[str]:
    """2047 fields of separators, then one pair, joined by ";" to `joined_length`."""
    filler = [";" * 15] * 2047  # 2047 * 15 characters + 2047 joining ";"
    last = joined_length - 2047 * 16
    return [*filler, "k=" + "v" * (last - 2)]


def test_several_fields_count_their_joining_separators() -> None:
    # Each field counts its length plus one for the ";" that joins it.
    assert parse_cookie_pairs(fields_totalling(32767)) == [("k", "v" * 13)]
    assert parse_cookie_pairs(fields_totalling(32768)) == [("k", "v" * 14)]
    assert parse_cookie_pairs(fields_totalling(32769)) == []
    assert parse_cookie_pairs([*fields_totalling(32768), "z=1"]) == [("k", "v" * 14)]


def test_two_fields_at_the_limit() -> None:
    first = "a=" + "x" * (16 * KIB - 2)
    second = "b=" + "y" * (16 * KIB - 3)  # 16384 + 1 + 16383 = 32768
    assert parse_cookie_pairs([first, second]) == [("a", "x" * 16382), ("b", "y" * 16381)]
    assert parse_cookie_pairs([first, second + "y"]) == [("a", "x" * 16382)]


def test_two_hundred_pairs_are_kept_and_the_next_ignored() -> None:
    pairs = [(f"c{index}", str(index)) for index in range(201)]
    header = "; ".join(f"{name}={value}" for name, value in pairs)
    assert parse_cookie_pairs(header) == pairs[:200]
    assert len(parse_cookie_pairs(header)) == 200
    assert parse_cookie_pairs(header[: header.rfind(";")]) == pairs[:200]
    # Skipped pairs do not count.
    noisy = "; ".join(f"bad pair {index}" for index in range(50)) + "; " + header
    assert parse_cookie_pairs(noisy) == pairs[:200]


# ---------------------------------------------------------------- nesting


def nested_lists(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def nested_dicts(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"k": value}
    return value


def nested_mixed(levels: int) -> Any:
    value: Any = []
    for level in range(levels - 1):
        value = {"k": value} if level % 2 else [value]
    return value


NESTERS = [nested_lists, nested_dicts, nested_mixed]


@pytest.mark.parametrize("nest", NESTERS)
def test_a_value_may_hold_31_levels(nest: Any) -> None:
    # docs/record.md: "nested more than 32 levels deep, counting the session
    # itself as the first level (a value may hold 31 levels of lists and dicts)".
    check_map({"a": nest(31)})
    assert pack_map({"a": nest(31)})
    with pytest.raises(UnstorableValue) as raised:
        check_map({"a": nest(32)})
    assert raised.value.key == "a"
    assert "32 levels" in str(raised.value)


@pytest.mark.parametrize("nest", NESTERS)
def test_records_read_back_follow_the_same_depth(nest: Any) -> None:
    def record(value: Any) -> bytes:
        flash = msgpack.packb({}, use_bin_type=True)
        data = msgpack.packb({"a": value}, use_bin_type=True)
        header = b"\x01" + b"\x41\xd9\x54\xfc\x40\x20\x00\x00" * 2 + len(flash).to_bytes(4, "big")
        return header + flash + data

    opened = Record.unpack(record(nest(31)))
    assert opened is not None
    assert opened.data == {"a": nest(31)}
    assert Record.unpack(record(nest(32))) is None


def test_exchange_refuses_32_levels_at_finish() -> None:
    protocol = SessionProtocol(Settings(keyring=Keyring([SECRET])), storage="cookie")
    exchange = protocol.begin(None, now=1_000_000_000)
    exchange.open()
    exchange.session.flash("deep", nested_dicts(32))
    with pytest.raises(UnstorableValue):
        exchange.finish()


# ---------------------------------------------------------------- record size


def record_of_size(total: int) -> bytes:
    # header (21) | empty flash map (1) | {"k": bin32 of n bytes} (8 + n)
    n = total - 30
    header = b"\x01" + bytes(16) + (1).to_bytes(4, "big")
    return header + b"\x80" + b"\x81\xa1k\xc6" + n.to_bytes(4, "big") + b"\x00" * n


@pytest.mark.parametrize("authenticated", [False, True])
def test_record_of_exactly_16_mib_opens(authenticated: bool) -> None:
    raw = record_of_size(16 * MIB)
    assert len(raw) == 16_777_216
    opened = Record.unpack(raw, authenticated=authenticated)
    assert opened is not None
    assert len(opened.data["k"]) == 16_777_186


@pytest.mark.parametrize("authenticated", [False, True])
def test_record_one_byte_over_16_mib_does_not_open(authenticated: bool) -> None:
    raw = record_of_size(16 * MIB + 1)
    assert len(raw) == 16_777_217
    assert Record.unpack(raw, authenticated=authenticated) is None


# ---------------------------------------------------------------- domain


def test_domain_of_253_characters_is_accepted_254_refused() -> None:
    host = ("a" * 49 + ".") * 5 + "bcd"
    assert len(host) == 253
    validate_domain(host)
    validate_domain("." + host)  # the tolerated leading dot is not counted
    with pytest.raises(CookieError):
        validate_domain(host + "e")
    with pytest.raises(CookieError):
        validate_domain("." + host + "e")


def test_label_of_63_characters_is_accepted_64_refused() -> None:
    validate_domain("a" * 63 + ".example")
    with pytest.raises(CookieError):
        validate_domain("a" * 64 + ".example")


# ---------------------------------------------------------------- Expires range


def test_expires_floor_is_the_first_second_of_1601() -> None:
    first = -11_644_473_600  # 1601-01-01T00:00:00Z, a Monday
    assert format_http_date(first) == "Mon, 01 Jan 1601 00:00:00 GMT"
    assert format_http_date(first + 0.5) == "Mon, 01 Jan 1601 00:00:00 GMT"
    with pytest.raises(CookieError):
        format_http_date(first - 1)
    with pytest.raises(CookieError):
        format_http_date(first - 0.5)  # rounds down to the second before
    assert format_http_date(datetime(1601, 1, 1, tzinfo=UTC)) == "Mon, 01 Jan 1601 00:00:00 GMT"
    with pytest.raises(CookieError):
        format_http_date(datetime(1600, 12, 31, 23, 59, 59, tzinfo=UTC))
    # 1601-01-01T00:30+01:00 is still 1600 in UTC.
    with pytest.raises(CookieError):
        format_http_date(datetime(1601, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))))


def test_expires_ceiling_is_the_last_second_of_9999() -> None:
    last = 253_402_300_799  # 9999-12-31T23:59:59Z, a Friday
    assert format_http_date(last) == "Fri, 31 Dec 9999 23:59:59 GMT"
    with pytest.raises(CookieError):
        format_http_date(last + 1)
    with pytest.raises(CookieError):
        format_http_date(datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-2))))


# ---------------------------------------------------------------- canonical base64url


def test_last_character_must_have_its_unused_bits_clear() -> None:
    # Two characters carry one byte (4 bits unused), three carry two (2 unused).
    assert b64decode("AA") == b"\x00"
    assert b64decode("AQ") == b"\x01"
    for spare in "BCDEFGHIJKLMNOP":
        assert b64decode("A" + spare) is None
    assert b64decode("AAA") == b"\x00\x00"
    assert b64decode("AAE") == b"\x00\x01"
    for spare in "BCD":
        assert b64decode("AA" + spare) is None


SEALER = Sealer(Keyring([SECRET]), "session")


def test_sealed_value_with_a_second_spelling_does_not_open() -> None:
    value = SEALER.seal(b"x" * 25)  # 55 bytes: 74 characters, the last holding 4 spare bits
    assert len(value) == 74
    assert SEALER.open(value) == (b"x" * 25, True)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(value[-1])
    assert index % 16 == 0
    for spare in range(1, 16):
        assert SEALER.open(value[:-1] + alphabet[index + spare]) is None


@pytest.mark.parametrize("junk", ["....", "!!!!", "====", "+/+/", "    ", "\n\n\n\n", "ÿÿÿÿ"])
def test_sealed_value_with_characters_outside_the_alphabet_does_not_open(junk: str) -> None:
    # A lenient decoder would skip these and open the value: strict_mode must stay on.
    value = SEALER.seal(b"payload")
    assert SEALER.open(value) == (b"payload", True)
    assert SEALER.open(value[:8] + junk + value[8:]) is None
    assert SEALER.open(value + junk) is None


# ---------------------------------------------------------------- type confusion


@pytest.mark.parametrize("same_site", [1, b"lax", 0.5, ["lax"], True])
def test_same_site_of_the_wrong_type_is_a_cookie_error(same_site: Any) -> None:
    with pytest.raises(CookieError, match="same_site"):
        cookie_attributes(same_site=same_site)
    with pytest.raises(CookieError, match="same_site"):
        render_set_cookie("a", "1", same_site=same_site)
    with pytest.raises(CookieError, match="same_site"):
        render_delete_cookie("a", same_site=same_site)
    with pytest.raises(CookieError, match="same_site"):
        SetCookie(name="a", value="1", same_site=same_site)
    exchange = SessionProtocol(Settings(keyring=Keyring([SECRET]))).begin(None, now=1.0)
    with pytest.raises(CookieError, match="same_site"):
        exchange.set_cookie("a", "1", same_site=same_site)
    with pytest.raises(CookieError, match="same_site"):
        exchange.delete_cookie("a", same_site=same_site)
    with pytest.raises(ConfigurationError, match="same_site"):
        Settings(keyring=Keyring([SECRET]), same_site=same_site)


@pytest.mark.parametrize("field", ["path", "domain"])
def test_path_and_domain_of_the_wrong_type_are_cookie_errors(field: str) -> None:
    with pytest.raises(CookieError):
        cookie_attributes(**{field: 1})


# ---------------------------------------------------------------- time zones


@pytest.mark.parametrize(
    "when",
    [
        datetime(2030, 1, 1, 5, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2029, 12, 31, 19, 0, tzinfo=ZoneInfo("America/New_York")),  # EST, -05:00
        datetime(2030, 1, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo")),
        datetime(2030, 1, 1, tzinfo=UTC),
    ],
    ids=["+05:30", "New York", "Tokyo", "UTC"],
)
def test_expires_from_an_aware_datetime_is_the_same_utc_instant(when: datetime) -> None:
    expected = "Tue, 01 Jan 2030 00:00:00 GMT"  # 1893456000
    assert format_http_date(when) == expected
    assert SetCookie(name="a", value="1", expires=when).render().endswith(f"; Expires={expected}")
    assert render_set_cookie("a", "1", expires=when, now=1_893_400_000).endswith(
        f"; Expires={expected}"
    )


def test_expires_across_a_daylight_saving_change() -> None:
    # 2030-03-10 01:59:59 EST is 06:59:59Z; one second later clocks jump to 03:00 EDT.
    new_york = ZoneInfo("America/New_York")
    before = datetime(2030, 3, 10, 1, 59, 59, tzinfo=new_york)
    after = datetime(2030, 3, 10, 3, 0, 0, tzinfo=new_york)
    assert format_http_date(before) == "Sun, 10 Mar 2030 06:59:59 GMT"
    assert format_http_date(after) == "Sun, 10 Mar 2030 07:00:00 GMT"


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(os.environ.get("SATCHEL_TZ_RUN") == "1", reason="already the TZ run")
@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_format_and_cookie_tests_pass_under_another_local_time_zone(zone: str) -> None:
    env = {**os.environ, "TZ": zone, "SATCHEL_TZ_RUN": "1"}
    probe = subprocess.run(
        [sys.executable, "-c", "import datetime; print(datetime.datetime.fromtimestamp(0))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    # The subprocess really runs in that zone: the epoch is not midnight there.
    expected_epoch = {
        "America/New_York": "1969-12-31 19:00:00",
        "Asia/Kolkata": "1970-01-01 05:30:00",
    }
    assert probe.stdout.strip() == expected_epoch[zone]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/core/test_format_vectors.py",
            "tests/core/test_boundaries.py",
            "tests/core/test_cookies.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert " passed" in run.stdout
