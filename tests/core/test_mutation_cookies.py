"""Cookie behaviour that only a changed line of _cookies.py would break (make mutate).

Mostly what the errors say: each names the input at fault (shortened when
long) and the rule it breaks, and never comes without a message.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from satchel import CookieError, SetCookie
from satchel._cookies import (
    check_prefix_rules,
    format_http_date,
    lifetime_attributes,
    parse_cookie_pairs,
    render_set_cookie,
    validate_cookie_name,
    validate_cookie_value,
    validate_domain,
    validate_path,
)

KIB = 1024


# ---------------------------------------------------------------- reading fields


class CountingFields:
    """Cookie header fields handed out one at a time, counting how many were taken."""

    def __init__(self, first: list[str], then: str, limit: int = 100_000) -> None:
        self.first, self.then, self.limit = first, then, limit
        self.taken = 0

    def __iter__(self) -> Iterator[str]:
        for field in self.first:
            self.taken += 1
            yield field
        while self.taken < self.limit:  # a bound, so a reader that never stops fails
            self.taken += 1
            yield self.then


def test_fields_are_read_only_until_32_kib_with_their_separators_is_passed() -> None:
    # Each "a=1" counts 3 characters and 1 for the ";" that joins it: 8192 of
    # them make exactly 32 KiB, so the 8193rd is the first one past the limit.
    fields = CountingFields([], "a=1")
    pairs = parse_cookie_pairs(fields)
    assert fields.taken == 8193
    assert pairs == [("a", "1")] * 200


def test_a_field_of_32_kib_minus_one_leaves_room_for_the_next_field_to_be_read() -> None:
    fields = CountingFields(["a=" + "x" * (32 * KIB - 3)], "b=1")
    assert parse_cookie_pairs(fields) == [("a", "x" * (32 * KIB - 3))]
    assert fields.taken == 2


def test_a_first_field_past_32_kib_is_the_only_one_read() -> None:
    fields = CountingFields(["a=" + "x" * (32 * KIB)], "b=1")
    assert parse_cookie_pairs(fields) == []
    assert fields.taken == 1


# ---------------------------------------------------------------- dates


@pytest.fixture
def kolkata_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's local time zone set to UTC+05:30, then put back."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        yield
    finally:
        monkeypatch.undo()
        time.tzset()


def test_aware_datetimes_are_written_in_gmt_whatever_the_local_zone(
    kolkata_local_time: None,
) -> None:
    assert time.localtime(0).tm_hour == 5  # the zone really is in effect
    new_york = timezone(timedelta(hours=-5))
    when = datetime(2029, 12, 31, 19, 0, tzinfo=new_york)
    assert format_http_date(when) == "Tue, 01 Jan 2030 00:00:00 GMT"
    assert format_http_date(datetime(2030, 1, 1, tzinfo=UTC)) == ("Tue, 01 Jan 2030 00:00:00 GMT")


@pytest.mark.parametrize(
    ("when", "pattern"),
    [
        (float("nan"), "cannot format nan as an HTTP date"),
        (float("inf"), "cannot format inf as an HTTP date"),
        (-11_644_473_601, "outside the years 1601 to 9999"),
        (datetime(1600, 12, 31, 23, 59, 59, tzinfo=UTC), "1601 to 9999 in UTC"),
    ],
)
def test_dates_that_cannot_be_written_say_why(when: float | datetime, pattern: str) -> None:
    with pytest.raises(CookieError, match=pattern):
        format_http_date(when)


def test_a_naive_datetime_is_refused_with_an_example_of_an_aware_one() -> None:
    with pytest.raises(CookieError, match=r"cannot be a naive datetime.*datetime\.now\(UTC\)"):
        format_http_date(datetime(2030, 1, 1))
    with pytest.raises(CookieError, match="naive datetime"):
        SetCookie(name="a", value="1", expires=datetime(2030, 1, 1))


def test_lifetime_errors_say_what_is_wrong() -> None:
    with pytest.raises(CookieError, match="now must be a finite number of seconds, not inf"):
        lifetime_attributes(60, now=float("inf"))
    with pytest.raises(CookieError, match="max_age must be a number of seconds, not NaN"):
        lifetime_attributes(float("nan"))


# ---------------------------------------------------------------- what errors show


def test_a_name_and_value_over_4096_bytes_are_counted_in_the_error() -> None:
    with pytest.raises(CookieError, match="is 4097 bytes") as info:
        render_set_cookie("name", "v" * 4093)
    assert "browsers ignore cookies over 4096" in str(info.value)


def test_an_input_of_40_characters_is_shown_whole_and_a_longer_one_shortened() -> None:
    forty = "p" * 40
    with pytest.raises(CookieError) as info:
        validate_path(forty)
    assert f"cookie path {forty!r} is invalid" in str(info.value)
    forty_one = "p" * 41
    with pytest.raises(CookieError) as info:
        validate_path(forty_one)
    assert f"cookie path {'p' * 37!r}... is invalid" in str(info.value)


def test_path_errors_name_the_path_and_the_rules() -> None:
    with pytest.raises(CookieError) as info:
        validate_path("/a b")
    message = str(info.value)
    assert message.startswith("cookie path '/a b' is invalid: it must start with '/'")
    assert "printable ASCII" in message
    assert "at most 1024 characters" in message


def test_name_errors_name_the_name_and_the_characters_allowed() -> None:
    with pytest.raises(CookieError) as info:
        validate_cookie_name("a b")
    assert str(info.value).startswith("cookie name 'a b' is not an HTTP token")
    assert "letters, digits or !#$%&'*+-.^_`|~" in str(info.value)


def test_domain_errors_name_the_domain_or_its_type() -> None:
    with pytest.raises(CookieError, match=r"cookie domain 'a\.\.b' is not a host name") as info:
        validate_domain("a..b")
    assert "labels of letters, digits and inner hyphens" in str(info.value)
    assert "form for internationalised names" in str(info.value)
    with pytest.raises(CookieError, match="cookie domain must be a str, not int"):
        validate_domain(5)  # type: ignore[arg-type]


def test_prefix_errors_name_the_cookie() -> None:
    with pytest.raises(CookieError, match="cookie '__Host-id': the __Host- prefix requires Secure"):
        check_prefix_rules("__Host-id", secure=False, http_only=True, path="/", domain=None)


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("a b", "U+0020 at index 1"),
        ("ab;", "U+003B at index 2"),
        ('"a b"', "U+0020 at index 2"),  # inside the quotes
        ('" a"', "U+0020 at index 1"),  # just inside the opening quote
        ('"ab', "U+0022 at index 0"),  # an opening quote without its closing one
        ('ab"', "U+0022 at index 2"),
        ('"a"b"', "U+0022 at index 2"),
        ('"', "U+0022 at index 0"),
        ("é", "U+00E9 at index 0"),
    ],
)
def test_value_errors_point_at_the_first_character_not_allowed(value: str, where: str) -> None:
    with pytest.raises(CookieError) as info:
        validate_cookie_value(value)
    message = str(info.value)
    assert message.startswith(f"cookie value holds {where}; ")
    assert "without space" in message
    assert "as base64url" in message


def test_a_value_of_the_wrong_type_names_the_type() -> None:
    with pytest.raises(CookieError, match="cookie value must be a str, not bytes"):
        validate_cookie_value(b"abc")  # type: ignore[arg-type]
