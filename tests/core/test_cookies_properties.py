"""Properties of Cookie parsing and Set-Cookie rendering, checked with hypothesis.

The character sets below are written out from the grammars of RFC 9110
(tchar) and RFC 6265bis (cookie-octet, and what a browser stores in a value),
and `reference_pairs` reads a header by splitting it, as an oracle
independent of the module's regular expressions.
"""

from __future__ import annotations

import email.utils
import math
import string
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satchel._cookies import (
    MAX_COOKIE_HEADER_BYTES,
    MAX_COOKIE_PAIRS,
    SetCookie,
    format_http_date,
    parse_cookie_pairs,
    parse_cookies,
    render_delete_cookie,
    render_set_cookie,
)
from satchel._errors import CookieError

# tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_"
#       / "`" / "|" / "~" / DIGIT / ALPHA
TCHARS = "!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters
# cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
COOKIE_OCTETS = "".join(
    chr(code)
    for low, high in (
        (0x21, 0x21),
        (0x23, 0x2B),
        (0x2D, 0x3A),
        (0x3C, 0x5B),
        (0x5D, 0x7E),
    )
    for code in range(low, high + 1)
)
# CTLs = %x00-1F / %x7F; a browser stores any value without ";" or a CTL
# other than HTAB (RFC 6265bis 5.6).
CONTROLS = [chr(code) for code in range(0x20) if code != 0x09] + ["\x7f"]


def is_value_char(char: str) -> bool:
    return char != ";" and char not in CONTROLS


def reference_pairs(header: str) -> list[tuple[str, str]]:
    """The pairs of a header under the byte cap, read by splitting it."""
    pairs = []
    for part in header.split(";"):
        # Browsers write "; " between pairs: that one space is the separator's.
        if part.startswith(" "):
            part = part[1:]
        name, equals, value = part.partition("=")
        if (
            equals
            and name
            and all(char in TCHARS for char in name)
            and all(map(is_value_char, value))
        ):
            pairs.append((name, value.strip(" \t")))
    return pairs[:MAX_COOKIE_PAIRS]


names = st.text(alphabet=TCHARS, min_size=1, max_size=20)
bare_values = st.text(alphabet=COOKIE_OCTETS, max_size=40)
values = bare_values | bare_values.map(lambda value: f'"{value}"')
# Values as a browser may send them: spaces, commas, quotes, backslashes,
# HTAB and non-ASCII included, with no blank at either end.
browser_values = st.text(
    alphabet=st.sampled_from(' \t,"\\={}[]:é\u00a0\u2028\U0001f36a') | st.characters(),
    max_size=40,
).map(lambda value: "".join(filter(is_value_char, value)).strip(" \t"))
pair_lists = st.lists(st.tuples(names, values | browser_values), max_size=20)
# Text weighted towards the characters that matter to the parser.
header_text = st.text(
    alphabet=st.sampled_from(' \t;=",\\\r\n\x00\x0b\x1f\x7fé\u00a0ab_H-\U0001f36a')
    | st.characters(),
    max_size=200,
)


def is_renderable(name: str, value: str) -> bool:
    """A token name and a cookie-octet value, optionally quoted."""
    if not name or any(char not in TCHARS for char in name):
        return False
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return all(char in COOKIE_OCTETS for char in value)


@given(header_text | st.text())
def test_parser_reads_what_the_reference_reads(header: str) -> None:
    pairs = parse_cookie_pairs(header)
    assert pairs == reference_pairs(header)
    cookies = parse_cookies(header)
    assert set(cookies) == {name for name, _ in pairs}


@given(st.lists(header_text, max_size=5))
def test_split_headers_parse_like_their_parts(fields: list[str]) -> None:
    # Each field ends its last pair, so splitting never merges or loses pairs.
    expected = [pair for field in fields for pair in parse_cookie_pairs(field)]
    assert parse_cookie_pairs(fields) == expected[:MAX_COOKIE_PAIRS]


@given(pair_lists, st.sampled_from(["; ", ";"]))
def test_cookie_header_round_trip(pairs: list[tuple[str, str]], separator: str) -> None:
    header = separator.join(f"{name}={value}" for name, value in pairs)
    assert parse_cookie_pairs(header) == pairs
    first: dict[str, str] = {}
    for name, value in pairs:
        first.setdefault(name, value)
    assert parse_cookies(header) == first


@given(
    names,
    browser_values,
    st.text(alphabet=" \t", max_size=4),
    st.text(alphabet=" \t", max_size=4),
)
def test_blanks_around_a_value_are_trimmed(name: str, value: str, before: str, after: str) -> None:
    header = f"x=1; {name}={before}{value}{after}; y=2"
    assert parse_cookie_pairs(header) == [("x", "1"), (name, value), ("y", "2")]


# Each control character in turn: hypothesis would rarely draw the last ones.
@pytest.mark.parametrize("control", CONTROLS, ids=lambda char: f"U+{ord(char):04X}")
@settings(max_examples=25)
@given(pair_lists, st.data(), names, browser_values)
def test_a_control_character_spoils_only_its_pair(
    control: str, pairs: list[tuple[str, str]], data: st.DataObject, name: str, value: str
) -> None:
    position = data.draw(st.integers(0, len(pairs)), label="position")
    cut = data.draw(st.integers(0, len(value)), label="cut")
    spoiled = f"{name}={value[:cut]}{control}{value[cut:]}"
    parts = [f"{name}={value}" for name, value in pairs]
    parts.insert(position, spoiled)
    assert parse_cookie_pairs("; ".join(parts)) == pairs


@given(
    pair_lists,
    st.data(),
    names,
    browser_values,
    # Look-alikes and blanks that a lenient reader might trim or normalise.
    st.sampled_from([" ", "\t", ",", "\\", '"', "é", "\u00a0", "\u2000", "\uff3f", "\u041d"]),
)
def test_a_name_that_is_not_a_token_spoils_only_its_pair(
    pairs: list[tuple[str, str]], data: st.DataObject, name: str, value: str, spoiler: str
) -> None:
    position = data.draw(st.integers(0, len(pairs)), label="position")
    cut = data.draw(st.integers(0, len(name)), label="cut")
    spoiled = f"{name[:cut]}{spoiler}{name[cut:]}={value}"
    # A first pair puts every other one after "; ", whose space is the
    # separator's: a spoiler first in the name is then a second blank.
    parts = ["x=1"] + [f"{name}={value}" for name, value in pairs]
    parts.insert(position + 1, spoiled)
    assert parse_cookie_pairs("; ".join(parts)) == [("x", "1"), *pairs]


# Pieces that make a backtracking reader slow; repeated to the byte cap, a
# reader that is not linear takes far longer than hypothesis' deadline.
PATHOLOGICAL = ["a=", " ", "\t", "x", "=", ";", '"', ",", "\x00", "__Host-"]


def cut_at_the_byte_cap(header: str) -> str:
    """The documented cap: text up to the limit, a straddling pair dropped."""
    if len(header) <= MAX_COOKIE_HEADER_BYTES:
        return header
    if header[MAX_COOKIE_HEADER_BYTES] == ";":
        return header[:MAX_COOKIE_HEADER_BYTES]
    return header[: header.rfind(";", 0, MAX_COOKIE_HEADER_BYTES) + 1]


@given(st.lists(st.sampled_from(PATHOLOGICAL), min_size=1, max_size=6))
def test_long_pathological_headers_read_like_the_reference(pieces: list[str]) -> None:
    unit = "".join(pieces)
    header = unit * (2 * MAX_COOKIE_HEADER_BYTES // len(unit) + 1)
    assert parse_cookie_pairs(header) == reference_pairs(cut_at_the_byte_cap(header))


@given(names, values)
def test_rendered_cookie_round_trips(name: str, value: str) -> None:
    # The defaults (Secure, Path=/, no Domain) satisfy both prefix rules, so
    # every token name with a cookie-octet value renders.
    rendered = render_set_cookie(name, value, max_age=60, now=1_700_000_000.0)
    assert "\r" not in rendered
    assert "\n" not in rendered
    # A browser takes the cookie from the text before the first ";" and
    # sends it back as one pair of its Cookie header.
    cookie_header = rendered.split(";", 1)[0]
    assert cookie_header == f"{name}={value}"
    assert parse_cookie_pairs(cookie_header) == [(name, value)]
    assert parse_cookie_pairs(rendered)[0] == (name, value)
    cookie = SetCookie(name=name, value=value, max_age=60)
    assert cookie.render(1_700_000_000.0) == rendered


@given(names)
def test_delete_cookie_round_trips(name: str) -> None:
    rendered = render_delete_cookie(name)
    assert parse_cookie_pairs(rendered)[0] == (name, "")


@given(st.text(max_size=30), st.text(max_size=30))
def test_render_refuses_or_renders_exactly_what_was_given(name: str, value: str) -> None:
    try:
        rendered = render_set_cookie(name, value)
    except CookieError:
        # The defaults satisfy the prefix rules, so only syntax can refuse.
        assert not is_renderable(name, value)
        return
    assert is_renderable(name, value)
    assert rendered.startswith(f"{name}={value}; ")
    assert parse_cookie_pairs(rendered)[0] == (name, value)


@given(st.integers(min_value=-11_644_473_600, max_value=253_402_300_799))
def test_format_http_date_matches_the_stdlib(seconds: int) -> None:
    assert format_http_date(seconds) == email.utils.formatdate(seconds, usegmt=True)


@given(st.floats(min_value=-11_644_473_600, max_value=253_402_300_799, allow_nan=False))
def test_format_http_date_rounds_fractions_down(seconds: float) -> None:
    expected = email.utils.formatdate(math.floor(seconds), usegmt=True)
    assert format_http_date(seconds) == expected


@given(
    st.datetimes(
        min_value=datetime(1602, 1, 1),
        max_value=datetime(9998, 12, 31),
        timezones=st.integers(-23 * 60, 23 * 60).map(
            lambda minutes: timezone(timedelta(minutes=minutes))
        ),
    )
)
def test_format_http_date_of_aware_datetimes(moment: datetime) -> None:
    as_utc = moment.astimezone(UTC).replace(microsecond=0)
    expected = email.utils.format_datetime(as_utc, usegmt=True)
    assert format_http_date(moment) == expected


@given(
    st.integers(min_value=0, max_value=MAX_COOKIE_HEADER_BYTES + 10),
    st.integers(min_value=1, max_value=400),
)
def test_byte_cap_keeps_exactly_the_whole_pairs_that_fit(length: int, count: int) -> None:
    pair = "a=" + "v" * length
    header = "; ".join([pair] * count)
    # Pair k (from 0) ends at k * (len(pair) + 2) + len(pair); it is kept when
    # that end is within the cap.
    fitting = (
        (MAX_COOKIE_HEADER_BYTES - len(pair)) // (len(pair) + 2) + 1
        if len(pair) <= MAX_COOKIE_HEADER_BYTES
        else 0
    )
    expected = min(count, fitting, MAX_COOKIE_PAIRS)
    assert parse_cookie_pairs(header) == [("a", "v" * length)] * expected
