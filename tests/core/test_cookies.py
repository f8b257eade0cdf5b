"""Case tables for Cookie parsing and Set-Cookie rendering (RFC 6265bis)."""

from __future__ import annotations

import email.utils
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from satchel._cookies import (
    MAX_AGE_LIMIT,
    MAX_COOKIE_HEADER_BYTES,
    MAX_COOKIE_PAIRS,
    SetCookie,
    check_prefix_rules,
    cookie_attributes,
    format_http_date,
    lifetime_attributes,
    parse_cookie_pairs,
    parse_cookies,
    render_delete_cookie,
    render_set_cookie,
    validate_cookie_name,
    validate_cookie_value,
    validate_domain,
    validate_path,
)
from satchel._errors import CookieError

DAY = 86400
# RFC 6265bis: user agents cap cookie lifetimes at 400 days.
FOUR_HUNDRED_DAYS = 400 * DAY


def http_date(seconds: float) -> str:
    """The stdlib's IMF-fixdate, used as an independent oracle."""
    return email.utils.formatdate(math.floor(seconds), usegmt=True)


def attributes(set_cookie: str) -> tuple[str, dict[str, str]]:
    """Split a Set-Cookie value into its name=value and {lowercased attr: value}."""
    head, *rest = set_cookie.split("; ")
    found: dict[str, str] = {}
    for attribute in rest:
        key, _, value = attribute.partition("=")
        assert key.lower() not in found, f"attribute {key} repeated"
        found[key.lower()] = value
    return head, found


# ---------------------------------------------------------------- parsing


def _generated_fields() -> Iterator[str]:
    return (f"k{i}=v{i}" for i in range(3))


PARSE_CASES: list[tuple[str, Any, list[tuple[str, str]]]] = [
    ("one pair", "a=1", [("a", "1")]),
    ("pairs with SP", "a=1; b=2; c=3", [("a", "1"), ("b", "2"), ("c", "3")]),
    ("pairs without SP", "a=1;b=2", [("a", "1"), ("b", "2")]),
    ("duplicates kept in order", "a=1; a=2", [("a", "1"), ("a", "2")]),
    ("names are case-sensitive", "A=1; a=2", [("A", "1"), ("a", "2")]),
    ("empty value", "a=; b=2", [("a", ""), ("b", "2")]),
    ("= inside value is an octet", "a=b=c", [("a", "b=c")]),
    (
        "all token characters",
        "!#$%&'*+-.^_`|~09AZaz=1",
        [("!#$%&'*+-.^_`|~09AZaz", "1")],
    ),
    (
        "all cookie-octet punctuation",
        "a=!#$%&'()*+-./:<=>?@[]^_`{|}~",
        [("a", "!#$%&'()*+-./:<=>?@[]^_`{|}~")],
    ),
    ("no percent-decoding", "a=%20x%3B", [("a", "%20x%3B")]),
    ("quoted value kept with quotes", 'a="1"', [("a", '"1"')]),
    ("empty quoted value", 'a=""', [("a", '""')]),
    # One SP after ";" is the separator browsers write; blanks around a
    # value are trimmed.
    ("blanks around values trimmed", "a= \t1 \t; b=2\t ", [("a", "1"), ("b", "2")]),
    ("blanks before ';' trimmed", "a=1 ;b=2", [("a", "1"), ("b", "2")]),
    ("blank value is empty", "a= \t ; b=2", [("a", ""), ("b", "2")]),
    ("empty pairs", ";; a=1 ;; ;", [("a", "1")]),
    # Nameless pairs never become named cookies.
    ("no '='", "secure; a=1", [("a", "1")]),
    ("empty name", "=1; a=1", [("a", "1")]),
    ("only '='", "=; a=1", [("a", "1")]),
    ("blank name", "  =1; a=1", [("a", "1")]),
    # Names that are not tokens, exactly as sent, are skipped.
    ("quoted name", '"a"=1; b=2', [("b", "2")]),
    ("space in name", "a b=1; c=2", [("c", "2")]),
    ("space before '='", "a =1; c=2", [("c", "2")]),
    ("spaces around '='", "a = b; c=2", [("c", "2")]),
    ("separator in name", "a/b=1; a:b=2; a@b=3; c=4", [("c", "4")]),
    ("non-ASCII name", "é=1; c=2", [("c", "2")]),
    ("two spaces before a name", "c=2;  a=1", [("c", "2")]),
    ("HTAB before a name", "c=2;\ta=1", [("c", "2")]),
    ("SP and HTAB before a name", "c=2; \ta=1", [("c", "2")]),
    # Values are kept as browsers store them.
    ("space after '='", "a= 1; c=2", [("a", "1"), ("c", "2")]),
    ("space inside value", "a=b c; c=2", [("a", "b c"), ("c", "2")]),
    ("HTAB inside value", "a=1\t2; c=2", [("a", "1\t2"), ("c", "2")]),
    ("HTAB after '='", "a=\t1; c=2", [("a", "1"), ("c", "2")]),
    ("comma inside value", "d=e,f; c=2", [("d", "e,f"), ("c", "2")]),
    ("comma does not separate", "a=1, b=2; c=3", [("a", "1, b=2"), ("c", "3")]),
    ("backslash", "a=x\\y; c=2", [("a", "x\\y"), ("c", "2")]),
    ("non-ASCII value", "a=é; c=2", [("a", "é"), ("c", "2")]),
    ("emoji value", "a=\U0001f36a; c=2", [("a", "\U0001f36a"), ("c", "2")]),
    ("unbalanced opening quote", 'a="1; c=2', [("a", '"1'), ("c", "2")]),
    ("unbalanced closing quote", 'a=1"; c=2', [("a", '1"'), ("c", "2")]),
    ("quote inside value", 'a=1"2; c=2', [("a", '1"2'), ("c", "2")]),
    ("quoted value with a space", 'a="x y"; c=2', [("a", '"x y"'), ("c", "2")]),
    ("quoted value keeps inner blanks", 'a=" x "; c=2', [("a", '" x "'), ("c", "2")]),
    ("blanks outside the quotes trimmed", 'a= "x" ; c=2', [("a", '"x"'), ("c", "2")]),
    ("lone quote", 'a="; c=2', [("a", '"'), ("c", "2")]),
    ("text after closing quote", 'a="1"x; c=2', [("a", '"1"x'), ("c", "2")]),
    ("JSON object", 'prefs={"a":1,"b":[2,3]}', [("prefs", '{"a":1,"b":[2,3]}')]),
    ("JSON array", 'a=["x", "y"]; c=2', [("a", '["x", "y"]'), ("c", "2")]),
    ("JSON string", 'a="x y"; c=2', [("a", '"x y"'), ("c", "2")]),
    # Control characters other than HTAB spoil the pair they are in.
    ("NUL", "a=1\x00; c=2", [("c", "2")]),
    ("DEL", "a=\x7f; c=2", [("c", "2")]),
    ("CR LF injection", "a=1\r\nSet-Cookie: b=2; c=3", [("c", "3")]),
    ("LF", "a=1\nb=2; c=3", [("c", "3")]),
    ("LF ending the header", "c=2; a=1\n", [("c", "2")]),
    ("CR LF ending the header", "c=2; a=1\r\n", [("c", "2")]),
    ("ESC inside value", "a=x\x1by; c=2", [("c", "2")]),
    ("VT after", "a=1\x0b; c=2", [("c", "2")]),
    ("FF after", "a=1\x0c; c=2", [("c", "2")]),
    ("CR after", "a=1\r; c=2", [("c", "2")]),
    # Only SP and HTAB are trimmed, and only from values: other blanks stay in
    # a value, and before a name they make it a non-token.
    ("NBSP before", "\u00a0a=1; c=2", [("c", "2")]),
    ("NBSP after", "a=1\u00a0; c=2", [("a", "1\u00a0"), ("c", "2")]),
    ("EM SPACE before", "\u2003a=1; c=2", [("c", "2")]),
    ("IDEOGRAPHIC SPACE after", "a=1\u3000; c=2", [("a", "1\u3000"), ("c", "2")]),
    ("VT before", "\x0ba=1; c=2", [("c", "2")]),
    ("empty header", "", []),
    ("blank header", "  \t ", []),
    ("None", None, []),
    ("no header fields", [], []),
    # The header split over several fields, as HTTP/2 allows.
    ("split header", ["a=1", "b=2"], [("a", "1"), ("b", "2")]),
    ("split with separators", ["a=1;", "; b=2", ""], [("a", "1"), ("b", "2")]),
    ("split keeps duplicates", ("a=1", "a=2"), [("a", "1"), ("a", "2")]),
    ("fields never join into one pair", ["a=", "1"], [("a", "")]),
    (
        "split from a generator",
        # A factory, called by the test: a generator object itself would be
        # used up by the first run, and every later run in the process would
        # parse an empty header.
        _generated_fields,
        [("k0", "v0"), ("k1", "v1"), ("k2", "v2")],
    ),
    (
        "non-text fields skipped",
        ["a=1", None, b"b=2", 7, "c=3"],
        [("a", "1"), ("c", "3")],
    ),
]


@pytest.mark.parametrize(
    ("header", "expected"),
    [pytest.param(header, expected, id=case_id) for case_id, header, expected in PARSE_CASES],
)
def test_parse_cookie_pairs(header: Any, expected: list[tuple[str, str]]) -> None:
    if callable(header):
        header = header()  # a fresh generator on every run
    assert parse_cookie_pairs(header) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("a=1; a=2; b=3", {"a": "1", "b": "3"}, id="first duplicate wins"),
        pytest.param(["a=1", "a=2"], {"a": "1"}, id="first wins across fields"),
        pytest.param("a b=1; a=2", {"a": "2"}, id="skipped pair does not win"),
        pytest.param("a=x\x00; a=2", {"a": "2"}, id="spoiled value does not win"),
        pytest.param('a="q"; b=', {"a": '"q"', "b": ""}, id="values kept as sent"),
        pytest.param(None, {}, id="None"),
        pytest.param("", {}, id="empty"),
    ],
)
def test_parse_cookies(header: str | Iterable[str] | None, expected: dict[str, str]) -> None:
    assert parse_cookies(header) == expected


def test_parse_cookies_keeps_header_order() -> None:
    assert list(parse_cookies("z=1; a=2; z=3; m=4")) == ["z", "a", "m"]


def test_parse_something_not_iterable_gives_nothing() -> None:
    assert parse_cookie_pairs(42) == []  # type: ignore[arg-type]


# ---------------------------------------------------------------- caps


def test_caps_are_in_the_documented_ranges() -> None:
    assert 16 * 1024 <= MAX_COOKIE_HEADER_BYTES <= 64 * 1024
    # Browsers keep about 180 cookies per site; the cap must not be lower.
    assert 180 <= MAX_COOKIE_PAIRS <= 1000
    assert MAX_AGE_LIMIT == FOUR_HUNDRED_DAYS


def test_pair_ending_exactly_at_the_byte_cap_is_kept() -> None:
    value = "v" * (MAX_COOKIE_HEADER_BYTES - len("a="))
    assert parse_cookie_pairs(f"a={value}") == [("a", value)]
    assert parse_cookie_pairs(f"a={value};b=1") == [("a", value)]


def test_pair_straddling_the_byte_cap_is_dropped_not_truncated() -> None:
    value = "v" * (MAX_COOKIE_HEADER_BYTES - len("a=") + 1)
    assert parse_cookie_pairs(f"a={value}") == []
    # The same with a kept pair before it.
    head = "x=1; "
    straddling = "b=" + "w" * (MAX_COOKIE_HEADER_BYTES - len(head))
    assert parse_cookie_pairs(head + straddling) == [("x", "1")]


def test_pairs_beyond_the_byte_cap_are_ignored() -> None:
    first = "a=" + "v" * (MAX_COOKIE_HEADER_BYTES // 2)
    pairs = parse_cookie_pairs(f"{first}; {first}; {first}; late=1")
    assert pairs == [("a", first[2:])]


def test_byte_cap_applies_to_split_headers_together() -> None:
    big = "a=" + "v" * (MAX_COOKIE_HEADER_BYTES - 100)
    pairs = parse_cookie_pairs([big, "b=" + "w" * 200, "c=3"])
    assert pairs == [("a", big[2:])]


def test_pair_count_cap_keeps_the_first_pairs() -> None:
    header = "; ".join(f"c{i}=1" for i in range(MAX_COOKIE_PAIRS + 50))
    assert len(header) < MAX_COOKIE_HEADER_BYTES
    pairs = parse_cookie_pairs(header)
    assert pairs == [(f"c{i}", "1") for i in range(MAX_COOKIE_PAIRS)]
    assert len(parse_cookies(header)) == MAX_COOKIE_PAIRS


def test_skipped_pairs_do_not_count_towards_the_pair_cap() -> None:
    header = "bad pair; " * (MAX_COOKIE_PAIRS + 10) + "good=1"
    assert len(header) < MAX_COOKIE_HEADER_BYTES
    assert parse_cookie_pairs(header) == [("good", "1")]


def test_eight_kilobyte_header_is_parsed_whole() -> None:
    # 64 pairs of 128 bytes each (with "; "), all well-formed.
    pairs = [(f"name{i:03d}", f"{i:03d}" + "x" * 115) for i in range(64)]
    header = "; ".join(f"{name}={value}" for name, value in pairs)
    assert 8000 <= len(header) <= 8192
    assert parse_cookie_pairs(header) == pairs


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("a=b; " * 60_000, id="many small pairs"),
        pytest.param("a=" + "b" * 300_000, id="one huge value"),
        pytest.param("a" * 300_000, id="one huge nameless pair"),
        pytest.param(";" * 300_000, id="only separators"),
        pytest.param(" " * 300_000, id="only spaces"),
        pytest.param('"' * 300_000, id="only quotes"),
        pytest.param("=" * 300_000, id="only equals signs"),
        pytest.param("a=" + '"' + "b" * 300_000, id="unterminated quote"),
        pytest.param("\x00" * 300_000, id="NULs"),
        pytest.param(["a=b"] * 100_000, id="many header fields"),
    ],
)
def test_huge_headers_are_capped(header: str | list[str]) -> None:
    pairs = parse_cookie_pairs(header)
    assert len(pairs) <= MAX_COOKIE_PAIRS
    assert sum(len(name) + len(value) + 1 for name, value in pairs) <= (MAX_COOKIE_HEADER_BYTES)


def test_huge_header_of_small_pairs_keeps_the_first() -> None:
    pairs = parse_cookie_pairs("a=b; " * 60_000)
    assert pairs == [("a", "b")] * MAX_COOKIE_PAIRS


# ---------------------------------------------------------------- names and values

BAD_NAMES = [
    "",
    "a;b",
    "a b",
    " a",
    "a ",
    "a=b",
    "a,b",
    "a\r",
    "a\n",
    "a\r\nSet-Cookie: x",
    "a\x00",
    "a\t",
    "a\x7f",
    '"a"',
    "a(b)",
    "a/b",
    "a:b",
    "a@b",
    "a[b]",
    "a{b}",
    "a?b",
    "a\\b",
    "é",
    "a\u00a0",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(CookieError):
        validate_cookie_name(name)
    with pytest.raises(CookieError):
        render_set_cookie(name, "v")
    with pytest.raises(CookieError):
        render_delete_cookie(name)
    with pytest.raises(CookieError):
        SetCookie(name=name, value="v")


@pytest.mark.parametrize("name", ["a", "SID", "session_id", "a.b-c", "!#$%&'*+-.^_`|~"])
def test_token_names_are_accepted(name: str) -> None:
    validate_cookie_name(name)
    assert render_set_cookie(name, "v").startswith(f"{name}=v; ")


BAD_VALUES = [
    "a;b",
    "a; Domain=evil.example",
    "a,b",
    "a b",
    " a",
    "a ",
    "a\tb",
    "a\r\nSet-Cookie: x=y",
    "abc\n",
    "a\r",
    "\x00",
    "\x1f",
    "\x7f",
    '"',
    'a"b',
    '"a',
    'a"',
    '"a"b"',
    '"a b"',
    "a\\b",
    "é",
    "\u00a0",
    '{"k":"v"}',
]


@pytest.mark.parametrize("value", BAD_VALUES)
def test_bad_values_are_refused(value: str) -> None:
    with pytest.raises(CookieError):
        validate_cookie_value(value)
    with pytest.raises(CookieError):
        render_set_cookie("a", value)
    with pytest.raises(CookieError):
        SetCookie(name="a", value=value)


def test_value_error_does_not_repeat_the_value() -> None:
    secret = "s3cr3tTOKEN;x"
    with pytest.raises(CookieError) as caught:
        validate_cookie_value(secret)
    assert "s3cr3t" not in str(caught.value)
    assert "TOKEN" not in str(caught.value)


@pytest.mark.parametrize(
    "value",
    ["", '""', '"abc"', "abc=def", "!#$%&'()*+-./:<=>?@[]^_`{|}~", "ZXhhbXBsZQ", "0"],
)
def test_cookie_octet_values_are_accepted(value: str) -> None:
    validate_cookie_value(value)
    assert render_set_cookie("a", value).startswith(f"a={value}; ")


def test_name_and_value_over_4096_bytes_are_refused() -> None:
    # RFC 6265bis: browsers ignore a cookie whose name + value exceed 4096.
    assert render_set_cookie("ab", "v" * 4094).startswith("ab=v")
    with pytest.raises(CookieError):
        render_set_cookie("ab", "v" * 4095)


# ---------------------------------------------------------------- path and domain


@pytest.mark.parametrize(
    "path",
    [
        "",
        "a",
        "a/b",
        "/a;b",
        "/a; Domain=evil.example",
        "/a,b",
        "/a\r",
        "/a\n",
        "/a\x00",
        "/a\x7f",
        "/a b",
        "/a\tb",
        "/é",
        "/" + "a" * 1024,
    ],
)
def test_bad_paths_are_refused(path: str) -> None:
    with pytest.raises(CookieError):
        validate_path(path)
    with pytest.raises(CookieError):
        cookie_attributes(path=path)
    with pytest.raises(CookieError):
        render_set_cookie("a", "v", path=path)
    with pytest.raises(CookieError):
        render_delete_cookie("a", path=path)


@pytest.mark.parametrize("path", ["/", "/a/b", "/a%20b", "/a-b_c.d~e/", "/" + "a" * 1023])
def test_good_paths_are_rendered(path: str) -> None:
    validate_path(path)
    _, found = attributes(render_set_cookie("a", "v", path=path))
    assert found["path"] == path


@pytest.mark.parametrize(
    "domain",
    [
        "",
        ".",
        "..example.com",
        "example..com",
        "example.com.",
        "-example.com",
        "example-.com",
        "ex_ample.com",
        "exa mple.com",
        "example.com;x",
        "example.com,x",
        "example.com\r\n",
        "ex\nample.com",
        "bücher.example",
        "a" * 64 + ".com",
        ".".join(["a" * 63] * 4),
        "[::1]",
        "example.com:80",
        "example.com/",
    ],
)
def test_bad_domains_are_refused(domain: str) -> None:
    with pytest.raises(CookieError):
        validate_domain(domain)
    with pytest.raises(CookieError):
        cookie_attributes(domain=domain)
    with pytest.raises(CookieError):
        render_set_cookie("a", "v", domain=domain)


@pytest.mark.parametrize(
    ("domain", "rendered"),
    [
        ("example.com", "example.com"),
        # RFC 6265bis: a leading dot is ignored by browsers.
        (".example.com", "example.com"),
        ("Sub.Example.co.uk", "Sub.Example.co.uk"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("localhost", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
        ("a" * 63 + ".com", "a" * 63 + ".com"),
    ],
)
def test_good_domains_are_rendered(domain: str, rendered: str) -> None:
    validate_domain(domain)
    _, found = attributes(render_set_cookie("a", "v", domain=domain))
    assert found["domain"] == rendered


# ---------------------------------------------------------------- attributes


def test_default_attributes() -> None:
    # Secure, HttpOnly, SameSite=Lax, Path=/, and no lifetime: a cookie that
    # lasts as long as the browser session.
    head, found = attributes(render_set_cookie("sid", "abc"))
    assert head == "sid=abc"
    assert found == {"path": "/", "secure": "", "httponly": "", "samesite": "Lax"}


def test_cookie_attributes_documented_order() -> None:
    assert cookie_attributes() == "; Path=/; Secure; HttpOnly; SameSite=Lax"
    assert cookie_attributes(
        path="/app", domain="example.com", same_site="none", partitioned=True
    ) == ("; Path=/app; Domain=example.com; Secure; HttpOnly; SameSite=None; Partitioned")


def test_attributes_can_be_left_out() -> None:
    assert cookie_attributes(path=None, secure=False, http_only=False, same_site=None) == ""


@pytest.mark.parametrize(
    ("same_site", "rendered"),
    [
        ("strict", "Strict"),
        ("Strict", "Strict"),
        ("LAX", "Lax"),
        ("lax", "Lax"),
        ("none", "None"),
        ("NONE", "None"),
    ],
)
def test_same_site_is_case_insensitive(same_site: str, rendered: str) -> None:
    _, found = attributes(render_set_cookie("a", "v", same_site=same_site))
    assert found["samesite"] == rendered


def test_same_site_none_omits_the_attribute() -> None:
    _, found = attributes(render_set_cookie("a", "v", same_site=None))
    assert "samesite" not in found


@pytest.mark.parametrize("same_site", ["", "bogus", "lax; Secure", "None ", "strict\n"])
def test_unknown_same_site_is_refused(same_site: str) -> None:
    with pytest.raises(CookieError):
        cookie_attributes(same_site=same_site)


def test_same_site_none_requires_secure() -> None:
    with pytest.raises(CookieError, match="Secure"):
        cookie_attributes(same_site="none", secure=False)
    with pytest.raises(CookieError, match="Secure"):
        render_set_cookie("a", "v", same_site="None", secure=False)
    # Lax and Strict do not need it.
    _, found = attributes(render_set_cookie("a", "v", same_site="lax", secure=False))
    assert "secure" not in found


def test_partitioned_requires_secure() -> None:
    with pytest.raises(CookieError, match="Secure"):
        cookie_attributes(partitioned=True, secure=False)
    with pytest.raises(CookieError, match="Secure"):
        render_set_cookie("a", "v", partitioned=True, secure=False)
    _, found = attributes(render_set_cookie("a", "v", partitioned=True))
    assert "partitioned" in found
    assert "secure" in found


# ---------------------------------------------------------------- prefixes

# What every prefix accepts: Secure, HttpOnly, Path=/ and no Domain.
STRICTEST: dict[str, Any] = {"secure": True, "http_only": True, "path": "/", "domain": None}


@pytest.mark.parametrize(
    ("name", "options", "rule"),
    [
        ("__Secure-id", {"secure": False}, "__Secure- prefix requires Secure"),
        ("__secure-id", {"secure": False}, "__Secure- prefix requires Secure"),
        ("__SECURE-id", {"secure": False}, "__Secure- prefix requires Secure"),
        ("__Host-id", {"secure": False}, "__Host- prefix requires Secure"),
        ("__host-id", {"secure": False}, "__Host- prefix requires Secure"),
        ("__HoSt-id", {"path": "/app"}, "__Host- prefix requires Path=/"),
        ("__Host-id", {"path": None}, "__Host- prefix requires Path=/"),
        ("__Host-id", {"domain": "example.com"}, "__Host- prefix forbids a Domain"),
        ("__HOST-id", {"domain": "example.com"}, "__Host- prefix forbids a Domain"),
        ("__Http-id", {"http_only": False}, "__Http- prefix requires HttpOnly"),
        ("__http-id", {"http_only": False}, "__Http- prefix requires HttpOnly"),
        ("__HTTP-id", {"http_only": False}, "__Http- prefix requires HttpOnly"),
        ("__Http-id", {"secure": False}, "__Http- prefix requires Secure"),
        ("__Host-Http-id", {"http_only": False}, "__Host-Http- prefix requires HttpOnly"),
        ("__host-http-id", {"http_only": False}, "__Host-Http- prefix requires HttpOnly"),
        ("__HOST-HTTP-id", {"http_only": False}, "__Host-Http- prefix requires HttpOnly"),
        ("__Host-Http-id", {"secure": False}, "__Host-Http- prefix requires Secure"),
        ("__Host-Http-id", {"path": "/app"}, "__Host-Http- prefix requires Path=/"),
        ("__Host-Http-id", {"path": None}, "__Host-Http- prefix requires Path=/"),
        ("__Host-Http-id", {"domain": "example.com"}, "__Host-Http- prefix forbids a Domain"),
    ],
)
def test_prefix_rules_are_enforced(name: str, options: dict[str, Any], rule: str) -> None:
    arguments = STRICTEST | options
    with pytest.raises(CookieError) as caught:
        check_prefix_rules(name, **arguments)
    assert rule in str(caught.value)
    with pytest.raises(CookieError, match=rule):
        render_set_cookie(name, "v", **arguments)
    with pytest.raises(CookieError, match=rule):
        render_delete_cookie(name, **arguments)
    with pytest.raises(CookieError, match=rule):
        SetCookie(name=name, value="v", **arguments)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("__Secure-id", {"secure": True, "http_only": False, "path": "/app", "domain": "a.b"}),
        ("__Host-id", {"secure": True, "http_only": False, "path": "/", "domain": None}),
        ("__host-id", {"secure": True, "http_only": False, "path": "/", "domain": None}),
        ("__Http-id", {"secure": True, "http_only": True, "path": "/app", "domain": "a.b"}),
        ("__http-id", {"secure": True, "http_only": True, "path": None, "domain": None}),
        ("__Host-Http-id", STRICTEST),
        ("__host-http-id", STRICTEST),
        # Not prefixed: no rule applies.
        ("_Host-id", {"secure": False, "http_only": False, "path": "/app", "domain": "a.b"}),
        ("__Hostid", {"secure": False, "http_only": False, "path": "/app", "domain": "a.b"}),
        ("Secure-id", {"secure": False, "http_only": False, "path": None, "domain": None}),
        ("x__Host-id", {"secure": False, "http_only": False, "path": None, "domain": None}),
        ("__Httpid", {"secure": False, "http_only": False, "path": None, "domain": None}),
        ("_Http-id", {"secure": False, "http_only": False, "path": None, "domain": None}),
        ("x__Http-id", {"secure": False, "http_only": False, "path": None, "domain": None}),
        # "__Host-Http" without the last hyphen is only a __Host- cookie.
        ("__Host-Httpid", {"secure": True, "http_only": False, "path": "/", "domain": None}),
    ],
)
def test_prefix_rules_allow(name: str, options: dict[str, Any]) -> None:
    check_prefix_rules(name, **options)
    assert render_set_cookie(name, "v", **options).startswith(f"{name}=v")


def test_set_cookie_defaults_satisfy_every_prefix() -> None:
    # Secure, HttpOnly, Path=/ and no Domain are the defaults.
    for name in ("__Secure-a", "__Host-a", "__Http-a", "__Host-Http-a"):
        assert render_set_cookie(name, "v").startswith(f"{name}=v; Path=/; Secure; HttpOnly")


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "seconds",
    [
        0,
        1,
        -1,
        784111777,
        951782400,  # 2000-02-29, a leap day
        1700000000.999,
        -0.5,
        2**31,
        -11644473600,  # 1601-01-01, the first year cookie dates accept
        253402300799,  # 9999-12-31T23:59:59
    ],
)
def test_format_http_date_matches_the_stdlib(seconds: float) -> None:
    assert format_http_date(seconds) == http_date(seconds)


def test_format_http_date_rfc_example() -> None:
    # The IMF-fixdate example of RFC 9110, section 5.6.7.
    assert format_http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"
    moment = datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)
    assert format_http_date(moment) == "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize(
    "zone",
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=11))],
)
def test_format_http_date_converts_aware_datetimes_to_gmt(zone: timezone) -> None:
    moment = datetime(2024, 2, 29, 23, 30, 15, 999_999, tzinfo=zone)
    assert format_http_date(moment) == http_date(moment.timestamp())


@pytest.mark.parametrize(
    "when",
    [
        datetime(2024, 1, 1),  # naive
        math.nan,
        math.inf,
        -math.inf,
        -11644473601,  # 1600-12-31T23:59:59
        253402300800,  # year 10000
        1e300,
        datetime(1600, 12, 31, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_format_http_date_refuses(when: float | datetime) -> None:
    with pytest.raises(CookieError):
        format_http_date(when)


# ---------------------------------------------------------------- lifetime


@pytest.mark.parametrize(
    ("max_age", "expected"),
    [
        (3600, 3600),
        (3600.9, 3600),
        (0.5, 0),
        (0, 0),
        (-5, 0),
        (-math.inf, 0),
        (FOUR_HUNDRED_DAYS, FOUR_HUNDRED_DAYS),
        (FOUR_HUNDRED_DAYS + 1, FOUR_HUNDRED_DAYS),
        (10**12, FOUR_HUNDRED_DAYS),
        (math.inf, FOUR_HUNDRED_DAYS),
    ],
)
def test_max_age_is_floored_and_capped(max_age: float, expected: int) -> None:
    _, found = attributes("a=v" + lifetime_attributes(max_age))
    assert found["max-age"] == str(expected)
    _, found = attributes(render_set_cookie("a", "v", max_age=max_age))
    assert found["max-age"] == str(expected)


@pytest.mark.parametrize(
    ("max_age", "capped"),
    [
        (1800, 1800),
        (1800.7, 1800),
        (10**9, FOUR_HUNDRED_DAYS),
        (FOUR_HUNDRED_DAYS, FOUR_HUNDRED_DAYS),
    ],
)
def test_expires_follows_max_age_when_now_is_given(max_age: float, capped: int) -> None:
    now = 1_700_000_000.25
    _, found = attributes(render_set_cookie("a", "v", max_age=max_age, now=now))
    assert found["max-age"] == str(capped)
    assert found["expires"] == http_date(now + capped)


def test_zero_max_age_expires_at_the_epoch() -> None:
    for now in (None, 1_700_000_000.0):
        _, found = attributes(render_set_cookie("a", "v", max_age=-30, now=now))
        assert found["max-age"] == "0"
        assert found["expires"] == http_date(0)


def test_no_lifetime_without_max_age_or_expires() -> None:
    assert lifetime_attributes(None) == ""
    assert lifetime_attributes(None, now=1_700_000_000.0) == ""


def test_max_age_without_now_has_no_expires() -> None:
    _, found = attributes("a=v" + lifetime_attributes(60))
    assert found == {"max-age": "60"}


def test_expires_alone() -> None:
    when = 1_800_000_000
    _, found = attributes(render_set_cookie("a", "v", expires=when))
    assert found["expires"] == http_date(when)
    assert "max-age" not in found
    moment = datetime(2030, 5, 17, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    _, found = attributes(render_set_cookie("a", "v", expires=moment))
    assert found["expires"] == http_date(moment.timestamp())


def test_expires_is_capped_to_400_days_from_now() -> None:
    now = 1_700_000_000.0
    far = now + 3 * FOUR_HUNDRED_DAYS
    _, found = attributes(render_set_cookie("a", "v", expires=far, now=now))
    assert found["expires"] == http_date(now + FOUR_HUNDRED_DAYS)
    far_moment = datetime(2100, 1, 1, tzinfo=UTC)
    _, found = attributes(render_set_cookie("a", "v", expires=far_moment, now=now))
    assert found["expires"] == http_date(now + FOUR_HUNDRED_DAYS)
    # Within 400 days and in the past, it is kept as given.
    for when in (now + 10 * DAY, now - DAY):
        _, found = attributes(render_set_cookie("a", "v", expires=when, now=now))
        assert found["expires"] == http_date(when)


def test_max_age_and_expires_together() -> None:
    now = 1_700_000_000.0
    when = now + 2 * DAY
    _, found = attributes(render_set_cookie("a", "v", max_age=60, expires=when, now=now))
    assert found["max-age"] == "60"
    assert found["expires"] == http_date(when)


@pytest.mark.parametrize(
    "arguments",
    [
        {"max_age": math.nan},
        {"max_age": 60, "now": math.nan},
        {"max_age": 60, "now": math.inf},
        {"max_age": None, "expires": datetime(2030, 1, 1)},
        {"max_age": None, "expires": datetime(2030, 1, 1), "now": 1_700_000_000.0},
        {"max_age": None, "expires": math.nan},
    ],
)
def test_bad_lifetimes_are_refused(arguments: dict[str, Any]) -> None:
    with pytest.raises(CookieError):
        lifetime_attributes(**arguments)
    with pytest.raises(CookieError):
        render_set_cookie("a", "v", **arguments)


def test_render_set_cookie_is_head_attributes_and_lifetime() -> None:
    options: dict[str, Any] = {
        "path": "/app",
        "domain": "example.com",
        "same_site": "strict",
        "partitioned": True,
    }
    now = 1_700_000_000.0
    assert render_set_cookie(
        "id", "x1", max_age=90, now=now, **options
    ) == "id=x1" + cookie_attributes(**options) + lifetime_attributes(90, now)


# ---------------------------------------------------------------- deletion


def test_delete_cookie() -> None:
    head, found = attributes(render_delete_cookie("sid"))
    assert head == "sid="
    assert found["max-age"] == "0"
    assert found["expires"] == http_date(0)
    assert found["expires"] == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert found["path"] == "/"


def test_delete_cookie_keeps_path_and_domain() -> None:
    _, set_found = attributes(
        render_set_cookie("sid", "abc", path="/app", domain="example.com", max_age=60)
    )
    head, found = attributes(render_delete_cookie("sid", path="/app", domain="example.com"))
    assert head == "sid="
    assert found["path"] == set_found["path"] == "/app"
    assert found["domain"] == set_found["domain"] == "example.com"
    assert found["max-age"] == "0"


def test_delete_host_prefixed_cookie_follows_the_prefix_rules() -> None:
    _, found = attributes(render_delete_cookie("__Host-sid"))
    assert "secure" in found
    assert found["path"] == "/"
    assert "domain" not in found


# ---------------------------------------------------------------- SetCookie


def test_set_cookie_renders_like_render_set_cookie() -> None:
    now = 1_700_000_000.0
    options: dict[str, Any] = {
        "path": "/p",
        "domain": ".example.com",
        "secure": True,
        "http_only": False,
        "same_site": "None",
        "partitioned": True,
        "max_age": 10**9,
    }
    cookie = SetCookie(name="pref", value="dark", **options)
    assert cookie.render(now) == render_set_cookie("pref", "dark", now=now, **options)
    assert cookie.render() == render_set_cookie("pref", "dark", **options)


def test_set_cookie_defaults() -> None:
    cookie = SetCookie(name="a", value="v")
    assert cookie.render() == render_set_cookie("a", "v")
    _, found = attributes(cookie.render())
    assert found == {"path": "/", "secure": "", "httponly": "", "samesite": "Lax"}


@pytest.mark.parametrize(
    "options",
    [
        {"path": "nope"},
        {"domain": "exa mple.com"},
        {"same_site": "sideways"},
        {"same_site": "none", "secure": False},
        {"partitioned": True, "secure": False},
        {"max_age": math.nan},
        {"expires": datetime(2030, 1, 1)},
    ],
)
def test_set_cookie_is_validated_at_construction(options: dict[str, Any]) -> None:
    with pytest.raises(CookieError):
        SetCookie(name="a", value="v", **options)


def test_set_cookie_is_frozen_keyword_only_and_hides_its_value() -> None:
    cookie = SetCookie(name="a", value="t0ps3cret")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        cookie.value = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        SetCookie("a", "v")  # type: ignore[call-arg]
    assert "t0ps3cret" not in repr(cookie)
    assert cookie == SetCookie(name="a", value="t0ps3cret")
    assert cookie != SetCookie(name="a", value="other")
