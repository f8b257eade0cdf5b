"""Fuzz target: rendering ``Set-Cookie`` with arbitrary arguments.

`render_set_cookie` and `SetCookie(...).render()` either raise `CookieError`
or return a line with no CR, LF or NUL whose attributes are exactly the ones
asked for, in order, with the values asked for: nothing can be injected.
The ``name=value`` part parses back to the same pair, and both ways of
rendering agree.

Input layout: read by atheris's FuzzedDataProvider, field by field.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from satchel import CookieError, SetCookie, parse_cookie_pairs, render_set_cookie

from ._harness import fuzz

__all__ = ["Arguments", "check", "check_arguments"]

Arguments = dict[str, Any]

_IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3]\d "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} [0-2]\d:[0-5]\d:[0-5]\d GMT"
)
_SAME_SITE = {"strict": "Strict", "lax": "Lax", "none": "None"}
# Text the fuzzer is likely to need: separators, line breaks and prefixes.
_PIECES = (
    ";", "\r", "\n", "\0", " ", "\t", '"', ",", "=", "/", ".", "__Host-", "__Secure-",
    "__Http-", "__Host-Http-", "; Secure", "\r\nSet-Cookie: x=y", "example.com", "\u00e9", "\u2028",
)  # fmt: skip


class _Reader:
    """Typed values from fuzzer bytes."""

    def __init__(self, data: bytes) -> None:
        import atheris  # type: ignore[import-untyped]

        self._provider = atheris.FuzzedDataProvider(data)

    def flag(self) -> bool:
        return bool(self._provider.ConsumeBool())

    def pick(self, count: int) -> int:
        return int(self._provider.ConsumeIntInRange(0, count - 1))

    def text(self) -> str:
        # Mostly short ASCII, spliced with pieces that matter to a cookie line.
        parts = []
        for _ in range(self.pick(4)):
            if self.flag():
                parts.append(_PIECES[self.pick(len(_PIECES))])
            else:
                size = self.pick(24)
                parts.append(self._provider.ConsumeBytes(size).decode("latin-1"))
        return "".join(parts)

    def number(self) -> float:
        choice = self.pick(4)
        if choice == 0:
            return float(self._provider.ConsumeFloat())  # any double, NaN and infinities too
        if choice == 1:
            return int(self._provider.ConsumeIntInRange(-(2**40), 2**40))
        if choice == 2:
            return float(self._provider.ConsumeIntInRange(-(2**40), 2**40)) / 7
        return int(self._provider.ConsumeInt(9))

    def moment(self) -> float | datetime:
        seconds = self.number()
        if self.flag():
            return seconds
        try:
            when = datetime(1970, 1, 1) + timedelta(seconds=seconds)
        except (OverflowError, ValueError):
            return seconds
        if self.flag():
            return when  # naive: must be refused
        return when.replace(tzinfo=timezone(timedelta(minutes=self.pick(2 * 1440 - 1) - 1439)))


def _arguments(data: bytes) -> Arguments:
    reader = _Reader(data)

    def maybe(make: Any, default: Any = None) -> Any:
        return make() if reader.flag() else default

    return {
        "name": reader.text(),
        "value": reader.text(),
        "path": maybe(reader.text, "/"),
        "domain": maybe(reader.text),
        "secure": reader.flag(),
        "http_only": reader.flag(),
        "same_site": maybe(lambda: ("strict", "Lax", "NONE", None, reader.text())[reader.pick(5)]),
        "partitioned": reader.flag(),
        "max_age": maybe(reader.number),
        "expires": maybe(reader.moment),
        "now": maybe(reader.number),
    }


def _expected_attributes(arguments: Arguments, rendered_max_age: str | None) -> list[str]:
    names = []
    if arguments["path"] is not None:
        names.append("Path")
    if arguments["domain"] is not None:
        names.append("Domain")
    if arguments["secure"]:
        names.append("Secure")
    if arguments["http_only"]:
        names.append("HttpOnly")
    if arguments["same_site"] is not None:
        names.append("SameSite")
    if arguments["partitioned"]:
        names.append("Partitioned")
    if arguments["max_age"] is not None:
        names.append("Max-Age")
        # Expires follows Max-Age when it can be computed, and always
        # (at the epoch) when the cookie is being deleted.
        computable = arguments["expires"] is not None or arguments["now"] is not None
        if computable or rendered_max_age == "0":
            names.append("Expires")
    elif arguments["expires"] is not None:
        names.append("Expires")
    return names


def _check_line(line: str, arguments: Arguments) -> None:
    assert not {"\r", "\n", "\0"} & set(line), line
    head, *attributes = line.split(";")
    assert head == f"{arguments['name']}={arguments['value']}"
    assert parse_cookie_pairs(head) == [(arguments["name"], arguments["value"])]
    found: dict[str, str | None] = {}
    for attribute in attributes:
        assert attribute.startswith(" "), line
        key, equals, value = attribute[1:].partition("=")
        assert key not in found, line
        found[key] = value if equals else None
    assert list(found) == _expected_attributes(arguments, found.get("Max-Age")), line
    if "Path" in found:
        assert found["Path"] == arguments["path"]
    if "Domain" in found:
        assert found["Domain"] == arguments["domain"].removeprefix(".")
    if "SameSite" in found:
        assert found["SameSite"] == _SAME_SITE[arguments["same_site"].lower()]
    if "Max-Age" in found:
        seconds = found["Max-Age"]
        assert seconds is not None, line
        assert seconds.isascii(), line
        assert seconds.isdigit(), line
        assert int(seconds) <= 400 * 86400
    if "Expires" in found:
        assert found["Expires"] is not None, line
        assert _IMF_FIXDATE.fullmatch(found["Expires"]), line
    for flag in ("Secure", "HttpOnly", "Partitioned"):
        if flag in found:
            assert found[flag] is None


def check_arguments(arguments: Arguments) -> None:
    """Render a cookie from `arguments` both ways and assert the invariants."""
    line: str | None = None
    try:
        line = render_set_cookie(**arguments)
    except CookieError:
        pass
    else:
        _check_line(line, arguments)
    fields = {key: value for key, value in arguments.items() if key != "now"}
    try:
        rendered = SetCookie(**fields).render(now=arguments["now"])
    except CookieError:
        return
    _check_line(rendered, arguments)
    if line is not None:
        assert rendered == line


def check(data: bytes) -> None:
    """Render the cookie `data` describes and assert the invariants."""
    check_arguments(_arguments(data))


if __name__ == "__main__":
    fuzz(check, instrument=("satchel", __name__))
