"""Cookies: lenient parsing of ``Cookie``, strict rendering of ``Set-Cookie``.

Parsing follows the server-side rules of RFC 6265bis but judges each pair on
its own: a malformed pair is skipped and the rest of the header is kept, and
no input a client can send makes the parser raise. Rendering is the opposite:
anything that could inject an attribute, be silently dropped by a browser or
break a cookie-prefix rule raises `CookieError` and nothing is emitted.

This module does no I/O and never reads the clock: a caller who wants an
``Expires`` attribute computed from ``Max-Age`` passes ``now``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import TypedDict, final

import attrs

from ._errors import CookieError

__all__ = [
    "MAX_AGE_LIMIT",
    "MAX_COOKIE_HEADER_BYTES",
    "MAX_COOKIE_PAIRS",
    "CookieAttributes",
    "CookieOptions",
    "SetCookie",
    "check_prefix_rules",
    "cookie_attributes",
    "format_http_date",
    "lifetime_attributes",
    "parse_cookie_pairs",
    "parse_cookies",
    "render_delete_cookie",
    "render_set_cookie",
    "validate_cookie_name",
    "validate_cookie_value",
    "validate_domain",
    "validate_path",
]


class CookieAttributes(TypedDict, total=False):
    """The attributes of an application cookie, each optional.

    Adapters accept them as keyword arguments and pass them on unchanged to
    `Exchange.set_cookie` / `Exchange.delete_cookie`, where the defaults
    live: ``path="/"``, ``domain=None``, ``secure=True``, ``http_only=True``,
    ``same_site="lax"``, ``partitioned=False``.
    """

    path: str | None
    domain: str | None
    secure: bool
    http_only: bool
    same_site: str | None
    partitioned: bool


class CookieOptions(CookieAttributes, total=False):
    """`CookieAttributes` plus the cookie's lifetime (by default, none: a
    browser-session cookie).
    """

    max_age: float | None
    expires: float | datetime | None


MAX_COOKIE_HEADER_BYTES = 32 * 1024
"""How much of a request's ``Cookie`` header text is parsed (32 KiB).

Several header fields count together, joined by ``;``. Pairs past the limit
are ignored, and a pair that straddles it is dropped whole, never truncated.
Counted in characters of the header text, which are bytes for the ISO-8859-1
decoding that WSGI and ASGI servers use.
"""

MAX_COOKIE_PAIRS = 200
"""How many readable pairs are kept per request; later pairs are ignored.

Browsers keep at most about 180 cookies per site, so a real browser stays
under it.
"""

MAX_AGE_LIMIT = 400 * 86400
"""The longest lifetime a cookie can be given, in seconds (400 days).

RFC 6265bis has browsers clamp ``Max-Age`` and ``Expires`` to 400 days from
now, so longer values are capped silently to say what browsers will do.
"""

# RFC 6265bis: a browser ignores a cookie whose name and value together exceed
# 4096 octets, and any attribute value over 1024 octets.
_MAX_NAME_VALUE_BYTES = 4096
_MAX_ATTRIBUTE_VALUE_BYTES = 1024
# DNS (RFC 1035) allows 255 octets on the wire: 253 characters as text.
_MAX_DOMAIN_LENGTH = 253

# RFC 9110 tchar and RFC 6265bis cookie-octet, as regex character classes.
_TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
_COOKIE_OCTET = r"\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e"
# What a browser stores in a value (RFC 6265bis 5.6): anything but ";" and
# the control characters other than HTAB. _VALUE_INNER is the same without
# SP and HTAB, so a value can be matched without its surrounding blanks.
_VALUE_INNER = r"^\x00-\x20\x7f;"

# One readable pair, starting at the header's start or at a ";" and ending
# before the next ";" or the end. Browsers write "; " between pairs, so one
# space there is the separator's; any other blank before a name leaves the
# name a non-token and the pair skipped (";  __Host-x=1" is not read as
# "__Host-x": names are never trimmed). The value is captured without the
# SP/HTAB around it.
# A pair that fails to match at its start cannot start a match anywhere
# inside it, so findall skips exactly that pair; possessive quantifiers keep
# the work linear in the header's length.
_PAIR_RE = re.compile(
    rf"(?:^|;) ?+([{_TCHAR}]++)=[ \t]*+"
    rf"([{_VALUE_INNER}]*+(?:[ \t]++[{_VALUE_INNER}]++)*+)[ \t]*+(?=;|\Z)"
)
_TOKEN_RE = re.compile(rf"[{_TCHAR}]+")
_VALUE_RE = re.compile(rf'"[{_COOKIE_OCTET}]*"|[{_COOKIE_OCTET}]*')
_NOT_COOKIE_OCTET_RE = re.compile(rf"[^{_COOKIE_OCTET}]")
# Printable ASCII except ";" and ",". A space is refused too: request paths
# reach the browser's path matching percent-encoded, so a literal space would
# never match anything.
_PATH_RE = re.compile(r"/[\x21-\x2b\x2d-\x3a\x3c-\x7e]*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN_RE = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")

_SAME_SITE = {
    "strict": "; SameSite=Strict",
    "lax": "; SameSite=Lax",
    "none": "; SameSite=None",
}

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip
_TWO_DIGITS = tuple(f"{number:02d}" for number in range(100))
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()  # the epoch was a Thursday
_date_from_ordinal = date.fromordinal
# Browsers reject cookie dates before 1601, and IMF-fixdate has a four-digit
# year, so only instants between these two can be written.
_FIRST_SECOND = -11_644_473_600  # 1601-01-01T00:00:00Z
_LAST_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z
_DELETE_LIFETIME = "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"


# ------------------------------------------------------------------ parsing


def _header_text(headers: str | Iterable[str] | None) -> str:
    """The header fields joined by ";" and cut to the byte limit at a ";"."""
    if isinstance(headers, str):
        text = headers
    elif headers is None:
        return ""
    else:
        try:
            fields = iter(headers)
        except TypeError:
            return ""
        parts: list[str] = []
        total = 0
        for field in fields:
            # Typed as text, but an adapter may slip in bytes or None; skip
            # them rather than fail the request.
            if isinstance(field, str):
                parts.append(field)
                total += len(field) + 1
                if total > MAX_COOKIE_HEADER_BYTES:
                    break
        text = ";".join(parts)
    if len(text) > MAX_COOKIE_HEADER_BYTES:
        kept = text[:MAX_COOKIE_HEADER_BYTES]
        if text[MAX_COOKIE_HEADER_BYTES] != ";":
            # The last pair crosses the limit: drop it whole.
            kept = kept[: kept.rfind(";") + 1]
        text = kept
    return text


def parse_cookie_pairs(headers: str | Iterable[str] | None) -> list[tuple[str, str]]:
    """All readable (name, value) pairs in order, duplicates kept.

    `headers` is one ``Cookie`` header value, several (an HTTP/2 request may
    split the header), or ``None``. Pairs are separated by ``;``, and one
    space after it (browsers write ``"; "``). A pair is kept when its name
    is an HTTP token, exactly as sent: never trimmed, unquoted or
    normalised, so a name with a blank or a look-alike character in it is
    skipped. Its value is kept as browsers store it: any text without
    ``;`` or a control character other than HTAB, spaces and tabs at both
    ends removed, double quotes kept, nothing percent-decoded. A pair that
    breaks these rules is skipped alone.

    At most `MAX_COOKIE_HEADER_BYTES` of header text is read and at most
    `MAX_COOKIE_PAIRS` pairs are returned. Takes time linear in the
    header's length and never raises for text input.
    """
    pairs: list[tuple[str, str]] = _PAIR_RE.findall(_header_text(headers))
    if len(pairs) > MAX_COOKIE_PAIRS:
        del pairs[MAX_COOKIE_PAIRS:]
    return pairs


def parse_cookies(headers: str | Iterable[str] | None) -> dict[str, str]:
    """Cookie name to value; for a duplicated name the first occurrence wins.

    Browsers send the cookie with the most specific path first (the RFC
    6265bis retrieval algorithm), so the first is the one meant for this URL. Parsing is as
    for `parse_cookie_pairs`. Never raises for text input.
    """
    cookies: dict[str, str] = {}
    for name, value in parse_cookie_pairs(headers):
        if name not in cookies:
            cookies[name] = value
    return cookies


# ------------------------------------------------------------------ validation


def _shown(text: str) -> str:
    """`text` for an error message, shortened so a huge input stays readable."""
    return repr(text) if len(text) <= 40 else repr(text[:37]) + "..."


def validate_cookie_name(name: str) -> None:
    """Check that `name` is a non-empty HTTP token (RFC 9110).

    Raises:
        CookieError: `name` is empty or holds anything but letters, digits
            and ``!#$%&'*+-.^_`|~``.

    """
    if not isinstance(name, str) or _TOKEN_RE.fullmatch(name) is None:
        raise CookieError(
            f"cookie name {_shown(str(name))} is not an HTTP token: use one or "
            "more letters, digits or !#$%&'*+-.^_`|~"
        )


def validate_cookie_value(value: str) -> None:
    r"""Check that `value` is cookie-octets, optionally wrapped in double quotes.

    Cookie-octets are printable ASCII except space, ``"``, ``,``, ``;`` and
    ``\``. The value may be empty. The error never repeats the value, which
    may be secret.

    Raises:
        CookieError: `value` holds any other character.

    """
    if not isinstance(value, str):
        raise CookieError(f"cookie value must be a str, not {type(value).__name__}")
    if _VALUE_RE.fullmatch(value) is None:
        # Report the first offending character, looking inside a quoted value.
        quoted = len(value) >= 2 and value[0] == value[-1] == '"'
        start = 1 if quoted else 0
        bad = _NOT_COOKIE_OCTET_RE.search(value, start, len(value) - start)
        index = bad.start() if bad is not None else 0
        where = f"U+{ord(value[index]):04X} at index {index}"
        raise CookieError(
            f"cookie value holds {where}; a value may hold only printable ASCII "
            'without space, ", comma, ; and \\ (encode it first, for example '
            "as base64url)"
        )


def validate_path(path: str) -> None:
    """Check a ``Path`` attribute value.

    It must start with ``/`` and hold only printable ASCII other than space,
    ``;`` and ``,`` (so percent-encode anything else), at most 1024
    characters.

    Raises:
        CookieError: `path` breaks one of these rules.

    """
    if (
        not isinstance(path, str)
        or len(path) > _MAX_ATTRIBUTE_VALUE_BYTES
        or _PATH_RE.fullmatch(path) is None
    ):
        raise CookieError(
            f"cookie path {_shown(str(path))} is invalid: it must start with '/' "
            "and hold only printable ASCII without space, ';' or ',' "
            f"(percent-encode the rest), at most {_MAX_ATTRIBUTE_VALUE_BYTES} "
            "characters"
        )


def validate_domain(domain: str) -> None:
    """Check a ``Domain`` attribute value: a host name, or an IPv4 address.

    Labels of letters, digits and inner hyphens (1 to 63 characters each),
    joined by dots; one leading dot is tolerated (browsers ignore it).
    Internationalised names must be given in their ``xn--`` form.

    Raises:
        CookieError: `domain` is not such a host name.

    """
    if not isinstance(domain, str):
        raise CookieError(f"cookie domain must be a str, not {type(domain).__name__}")
    host = domain[1:] if domain.startswith(".") else domain
    if len(host) > _MAX_DOMAIN_LENGTH or _DOMAIN_RE.fullmatch(host) is None:
        raise CookieError(
            f"cookie domain {_shown(domain)} is not a host name: use dot-separated "
            "labels of letters, digits and inner hyphens (the xn-- form for "
            "internationalised names)"
        )


def check_prefix_rules(
    name: str, *, secure: bool, http_only: bool, path: str | None, domain: str | None
) -> None:
    """Enforce the cookie-name prefixes browsers give a meaning to.

    - ``__Secure-`` needs `secure`;
    - ``__Host-`` needs `secure`, a `path` of exactly ``/`` and no `domain`;
    - ``__Http-`` needs `secure` and `http_only`;
    - ``__Host-Http-`` needs everything ``__Host-`` and ``__Http-`` need.

    A browser drops a cookie that breaks its prefix's rules, and it matches
    the prefixes case-insensitively (draft-ietf-httpbis-layered-cookies), so
    they are matched the same way here: ``__host-http-id`` counts too.

    Raises:
        CookieError: a rule is broken; the message names it.

    """
    lowered = name[:12].lower()
    shown = _shown(name)
    if lowered.startswith("__host-"):
        prefix = "__Host-Http-" if lowered == "__host-http-" else "__Host-"
        if not secure:
            raise CookieError(f"cookie {shown}: the {prefix} prefix requires Secure")
        if path != "/":
            raise CookieError(f"cookie {shown}: the {prefix} prefix requires Path=/")
        if domain is not None:
            raise CookieError(f"cookie {shown}: the {prefix} prefix forbids a Domain")
        if prefix == "__Host-Http-" and not http_only:
            raise CookieError(f"cookie {shown}: the {prefix} prefix requires HttpOnly")
    elif lowered.startswith("__http-"):
        if not secure:
            raise CookieError(f"cookie {shown}: the __Http- prefix requires Secure")
        if not http_only:
            raise CookieError(f"cookie {shown}: the __Http- prefix requires HttpOnly")
    elif lowered.startswith("__secure-") and not secure:
        raise CookieError(f"cookie {shown}: the __Secure- prefix requires Secure")


# ------------------------------------------------------------------ rendering


def _naive_datetime_error() -> CookieError:
    return CookieError(
        "a cookie date cannot be a naive datetime: give it a timezone "
        "(for example datetime.now(UTC))"
    )


def format_http_date(when: float | datetime) -> str:
    """`when` as an IMF-fixdate, such as ``Sun, 06 Nov 1994 08:49:37 GMT``.

    `when` is POSIX seconds (fractions are dropped, rounding down) or a
    timezone-aware datetime. Day and month names are always English.

    Raises:
        CookieError: a naive datetime, a non-finite number, or an instant
            outside the years 1601 to 9999, which cookie dates cannot hold.

    """
    if isinstance(when, datetime):
        if when.utcoffset() is None:
            raise _naive_datetime_error()
        try:
            moment = when.astimezone(UTC)
        except OverflowError:
            moment = None
        if moment is None or moment.year < 1601:
            raise CookieError(
                f"cannot format {when} as a cookie date: outside the years 1601 to 9999 in UTC"
            )
        return (
            f"{_DAYS[moment.weekday()]}, {_TWO_DIGITS[moment.day]} "
            f"{_MONTHS[moment.month - 1]} {moment.year} {_TWO_DIGITS[moment.hour]}:"
            f"{_TWO_DIGITS[moment.minute]}:{_TWO_DIGITS[moment.second]} GMT"
        )
    try:
        seconds = math.floor(when)
    except (OverflowError, ValueError):
        raise CookieError(f"cannot format {when!r} as an HTTP date") from None
    if not _FIRST_SECOND <= seconds <= _LAST_SECOND:
        raise CookieError(
            f"cannot format {when!r} as a cookie date: outside the years 1601 to 9999"
        )
    # Integer arithmetic and a table of two-digit strings: this runs for every
    # persistent cookie, and is several times faster than datetime formatting.
    days, rest = divmod(seconds, 86400)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    day = _date_from_ordinal(_EPOCH_ORDINAL + days)
    return (
        f"{_DAYS[(days + 3) % 7]}, {_TWO_DIGITS[day.day]} "
        f"{_MONTHS[day.month - 1]} {day.year} "
        f"{_TWO_DIGITS[hour]}:{_TWO_DIGITS[minute]}:{_TWO_DIGITS[second]} GMT"
    )


def cookie_attributes(
    *,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = True,
    http_only: bool = True,
    same_site: str | None = "lax",
    partitioned: bool = False,
) -> str:
    """The validated attribute suffix of a ``Set-Cookie``, without its lifetime.

    For example ``"; Path=/; Secure; HttpOnly; SameSite=Lax"``, in the order
    Path, Domain, Secure, HttpOnly, SameSite, Partitioned. ``None`` leaves an
    attribute out. `same_site` is ``"strict"``, ``"lax"`` or ``"none"`` in any
    case. A domain's leading dot is dropped (browsers ignore it anyway).
    Meant to be computed once per cookie configuration and reused.

    Raises:
        CookieError: an invalid path or domain, an unknown `same_site`, or
            SameSite=None or Partitioned without Secure (browsers reject
            both).

    """
    parts: list[str] = []
    if path is not None:
        validate_path(path)
        parts.append(f"; Path={path}")
    if domain is not None:
        validate_domain(domain)
        parts.append(f"; Domain={domain.removeprefix('.')}")
    if secure:
        parts.append("; Secure")
    if http_only:
        parts.append("; HttpOnly")
    if same_site is not None:
        rendered = _SAME_SITE.get(same_site.lower()) if isinstance(same_site, str) else None
        if rendered is None:
            raise CookieError(
                f"same_site must be 'strict', 'lax', 'none' or None, not {same_site!r}"
            )
        if rendered == "; SameSite=None" and not secure:
            raise CookieError("SameSite=None requires Secure (browsers reject it)")
        parts.append(rendered)
    if partitioned:
        if not secure:
            raise CookieError("Partitioned requires Secure (browsers reject it)")
        parts.append("; Partitioned")
    return "".join(parts)


def _seconds(moment: float | datetime) -> float:
    """POSIX seconds of an instant; a naive datetime is refused."""
    if isinstance(moment, datetime):
        if moment.utcoffset() is None:
            raise _naive_datetime_error()
        return moment.timestamp()
    return moment


def lifetime_attributes(
    max_age: float | None,
    now: float | None = None,
    expires: float | datetime | None = None,
) -> str:
    """The ``"; Max-Age=N; Expires=<date>"`` part of a ``Set-Cookie``.

    `max_age` is rounded down to whole seconds, a negative one becomes 0 and
    one over `MAX_AGE_LIMIT` (400 days) is capped to it silently, as browsers
    would. ``Expires`` is `expires` when given, else ``now + max_age`` when
    `now` is given; with `now` it is capped to ``now`` plus 400 days. A zero
    ``Max-Age`` without `expires` always gets the epoch as its ``Expires``,
    which is in the past on any client's clock. With neither `max_age` nor
    `expires` the result is empty: a cookie that lasts as long as the
    browser session.

    Raises:
        CookieError: a NaN `max_age`, a non-finite `now`, or an `expires`
            `format_http_date` refuses.

    """
    if now is not None and not math.isfinite(now):
        raise CookieError(f"now must be a finite number of seconds, not {now!r}")
    parts: list[str] = []
    if max_age is not None:
        if max_age >= MAX_AGE_LIMIT:
            seconds = MAX_AGE_LIMIT
        elif max_age > 0:
            seconds = math.floor(max_age)
        elif max_age <= 0:
            seconds = 0
        else:
            raise CookieError("max_age must be a number of seconds, not NaN")
        if expires is None:
            if seconds == 0:
                return _DELETE_LIFETIME
            if now is not None:
                expiry = format_http_date(now + seconds)
                return f"; Max-Age={seconds}; Expires={expiry}"
        parts.append(f"; Max-Age={seconds}")
    if expires is not None:
        if now is not None and _seconds(expires) > now + MAX_AGE_LIMIT:
            expires = now + MAX_AGE_LIMIT
        parts.append(f"; Expires={format_http_date(expires)}")
    return "".join(parts)


def _name_value_and_attributes(
    name: str,
    value: str,
    *,
    path: str | None,
    domain: str | None,
    secure: bool,
    http_only: bool,
    same_site: str | None,
    partitioned: bool,
) -> str:
    """``name=value`` and the attribute suffix, all validated."""
    validate_cookie_name(name)
    validate_cookie_value(value)
    if len(name) + len(value) > _MAX_NAME_VALUE_BYTES:
        raise CookieError(
            f"cookie {_shown(name)} is {len(name) + len(value)} bytes (name + "
            f"value); browsers ignore cookies over {_MAX_NAME_VALUE_BYTES}"
        )
    check_prefix_rules(name, secure=secure, http_only=http_only, path=path, domain=domain)
    suffix = cookie_attributes(
        path=path,
        domain=domain,
        secure=secure,
        http_only=http_only,
        same_site=same_site,
        partitioned=partitioned,
    )
    return f"{name}={value}{suffix}"


def render_set_cookie(
    name: str,
    value: str,
    *,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = True,
    http_only: bool = True,
    same_site: str | None = "lax",
    partitioned: bool = False,
    max_age: float | None = None,
    expires: float | datetime | None = None,
    now: float | None = None,
) -> str:
    """A complete, validated ``Set-Cookie`` header value (without the field name).

    The result is ``f"{name}={value}"`` followed by `cookie_attributes` and
    then `lifetime_attributes` for the same arguments. Name and value
    together may not exceed 4096 bytes, and the ``__Secure-``, ``__Host-``,
    ``__Http-`` and ``__Host-Http-`` prefix rules are enforced
    (`check_prefix_rules`).

    Raises:
        CookieError: any part is invalid; nothing is rendered.

    """
    head = _name_value_and_attributes(
        name,
        value,
        path=path,
        domain=domain,
        secure=secure,
        http_only=http_only,
        same_site=same_site,
        partitioned=partitioned,
    )
    return head + lifetime_attributes(max_age, now, expires)


def render_delete_cookie(
    name: str,
    *,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = True,
    http_only: bool = True,
    same_site: str | None = "lax",
    partitioned: bool = False,
) -> str:
    """A ``Set-Cookie`` header value that removes the cookie `name`.

    It has an empty value, ``Max-Age=0`` and an ``Expires`` at the epoch. A
    browser only removes the cookie whose Path and Domain match, so pass the
    ones it was set with.

    Raises:
        CookieError: as for `render_set_cookie`.

    """
    head = _name_value_and_attributes(
        name,
        "",
        path=path,
        domain=domain,
        secure=secure,
        http_only=http_only,
        same_site=same_site,
        partitioned=partitioned,
    )
    return head + _DELETE_LIFETIME


def _redacted(value: str) -> str:
    return f"<{len(value)} characters>"


@final
@attrs.frozen(kw_only=True)
class SetCookie:
    """A cookie the application asked to send with the response.

    The fields mean what `render_set_cookie`'s arguments mean, with the same
    defaults. Everything is validated when the object is made, so a bad
    cookie fails where it is created rather than when the response is sent.
    The ``repr`` shows the value's length, never the value.

    Raises:
        CookieError: any field is invalid.

    """

    name: str
    value: str = attrs.field(repr=_redacted)
    path: str | None = "/"
    domain: str | None = None
    secure: bool = True
    http_only: bool = True
    same_site: str | None = "lax"
    partitioned: bool = False
    max_age: float | None = None
    expires: float | datetime | None = None
    _head: str = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        head = _name_value_and_attributes(
            self.name,
            self.value,
            path=self.path,
            domain=self.domain,
            secure=self.secure,
            http_only=self.http_only,
            same_site=self.same_site,
            partitioned=self.partitioned,
        )
        lifetime_attributes(self.max_age, None, self.expires)  # validates only
        object.__setattr__(self, "_head", head)

    def render(self, now: float | None = None) -> str:
        """The ``Set-Cookie`` header value, as `render_set_cookie` renders it.

        Pass `now` to have ``Expires`` computed from ``max_age`` and capped
        to 400 days.
        """
        return self._head + lifetime_attributes(self.max_age, now, self.expires)
