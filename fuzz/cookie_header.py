"""Fuzz target: the ``Cookie`` request-header parser.

`satchel.parse_cookie_pairs` and `satchel.parse_cookies` must never raise,
and every pair they return must come, in order, from one ``;``-separated
segment of the header that the policy accepts: the name a strict HTTP token,
exactly as sent; the value trimmed of SP/HTAB and allowed by
`value_allowed`. Segments of plain RFC 6265 form (one space at most, token,
``=``, cookie-octets, optionally quoted) must all be returned, up to
`MAX_COOKIE_PAIRS`, and nothing past `MAX_COOKIE_HEADER_BYTES` is read.

Input layout: one flag byte, then the header text. Flag bits: 0, UTF-8
rather than ISO-8859-1; 5, repeat the text past the pair cap; 4, put a long
cookie first so the byte cap falls inside the text; 2, split it into several
fields at each LF; 3, slip non-text fields in among them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from satchel import MAX_COOKIE_HEADER_BYTES, MAX_COOKIE_PAIRS, parse_cookie_pairs, parse_cookies

from ._harness import fuzz, text

__all__ = ["check", "value_allowed"]

# Written out here rather than imported, so the oracle does not share a
# mistake with the code under test.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN_RE = re.compile(_TOKEN)
_OCTETS = r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*"
# A pair every policy so far reads: at most one space before the name (the
# one browsers write after ";"), a cookie-octets value, blanks after it.
_PLAIN_RE = re.compile(rf' ?{_TOKEN}=(?:"{_OCTETS}"|{_OCTETS})[ \t]*')
_CONTROLS = frozenset(chr(code) for code in (*range(0x20), 0x7F)) - {"\t"}


def value_allowed(value: str) -> bool:
    """The value policy: what a returned cookie value may look like.

    RFC 6265bis 5.6, as browsers store values: anything but control
    characters other than HTAB, and ``;``; SP/HTAB trimmed at both ends;
    quotes kept. (The earlier cookie-octets policy accepts a subset.)
    """
    return ";" not in value and value == value.strip(" \t") and _CONTROLS.isdisjoint(value)


def _pair_of(segment: str) -> tuple[str, str] | None:
    """The pair the policy makes of one segment, or None if it is skipped.

    Blanks before the name are allowed here, as the first policy did; the
    current one reads only the single space browsers write after ``;``.
    Either way the name itself is never trimmed.
    """
    name, equals, rest = segment.lstrip(" \t").partition("=")
    if not equals or _TOKEN_RE.fullmatch(name) is None:
        return None
    value = rest.strip(" \t")
    return (name, value) if value_allowed(value) else None


def _segments_read(fields: list[str]) -> list[str]:
    """The segments of the joined header that end within the byte limit."""
    joined = ";".join(fields)
    segments = []
    start = 0
    for segment in joined.split(";"):
        end = start + len(segment)
        if end > MAX_COOKIE_HEADER_BYTES:
            break
        segments.append(segment)
        start = end + 1
    return segments


def _is_subsequence(short: list[tuple[str, str]], long: Iterable[tuple[str, str]]) -> bool:
    remaining = iter(long)
    return all(item in remaining for item in short)


def _headers(data: bytes) -> tuple[str | list[object] | None, list[str]]:
    """The parser's argument, and the text fields it should read."""
    if not data:
        return None, []
    flags, body = data[0], data[1:]
    header = text(body, wide=bool(flags & 1))
    if flags & 0x20 and header:
        # Over the pair cap: up to 256 copies, but short enough that the
        # oracle's per-segment loop stays cheap.
        header = ";".join([header] * min(256, 8192 // (len(header) + 1)))
    if flags & 0x10:
        # One long cookie first, so that the byte cap falls inside the text.
        filler = MAX_COOKIE_HEADER_BYTES - 5 - len(header) // 2
        header = "pad=" + "x" * filler + ";" + header
    if not flags & 4:
        return header, [header]
    # Several fields (an HTTP/2 request may split the header); an adapter
    # may slip in bytes or None, which are skipped.
    fields = header.split("\n")
    mixed: list[object] = list(fields)
    if flags & 8:
        mixed[1:1] = [b"a=b", None]
    return mixed, fields


def check(data: bytes) -> None:
    """Parse the header `data` describes and assert the invariants."""
    headers, fields = _headers(data)
    pairs = parse_cookie_pairs(headers)  # type: ignore[arg-type]
    assert isinstance(pairs, list)
    assert len(pairs) <= MAX_COOKIE_PAIRS
    for name, value in pairs:
        assert type(name) is str
        assert type(value) is str
        assert _TOKEN_RE.fullmatch(name) is not None, name
        assert value_allowed(value), value

    segments = _segments_read(fields)
    accepted = (pair for pair in map(_pair_of, segments) if pair is not None)
    assert _is_subsequence(pairs, accepted), "a pair the policy skips, or out of order"
    if len(pairs) < MAX_COOKIE_PAIRS:
        plain = [
            pair
            for segment in segments
            if _PLAIN_RE.fullmatch(segment) and (pair := _pair_of(segment)) is not None
        ]
        assert _is_subsequence(plain, pairs), "a plain pair was skipped"

    first: dict[str, str] = {}
    for name, value in pairs:
        first.setdefault(name, value)
    assert parse_cookies(headers) == first  # type: ignore[arg-type]


if __name__ == "__main__":
    fuzz(check)
