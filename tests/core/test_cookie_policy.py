"""The cookie policy as an application sees it through the exchange.

Request cookies are read as browsers store them; the session cookie may be
exactly 4096 bytes of name plus value, chunks too; and the ``__Http-`` and
``__Host-Http-`` prefixes are enforced wherever a cookie is configured or set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from satchel import (
    ConfigurationError,
    CookieError,
    Keyring,
    MemoryStore,
    Session,
    SessionProtocol,
    SessionTooLarge,
    Settings,
)
from satchel.testing import Browser, ManualClock

from ..conftest import SECRET

NOW = 1_700_000_000.0


def request_cookies(header: str | list[str] | None) -> dict[str, str]:
    protocol = SessionProtocol(Settings(keyring=Keyring([SECRET])))
    return dict(protocol.begin(header, now=NOW).request_cookies)


def put(key: str, value: Any) -> Callable[[Session], None]:
    return lambda session: session.__setitem__(key, value)


def name_and_value(set_cookie: str) -> tuple[str, str]:
    """The cookie a browser stores from a Set-Cookie: the text before ";"."""
    name, _, value = set_cookie.split(";", 1)[0].partition("=")
    return name, value


# ---------------------------------------------------------------- reading


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # Values a page's script or an analytics vendor sets.
        pytest.param(
            'prefs={"a":1,"b":[2,3]}; sid=abc',
            {"prefs": '{"a":1,"b":[2,3]}', "sid": "abc"},
            id="JSON value",
        ),
        pytest.param("a=b c; z=1", {"a": "b c", "z": "1"}, id="space inside"),
        pytest.param("d=e,f; z=1", {"d": "e,f", "z": "1"}, id="comma inside"),
        pytest.param('q="x y"; z=1', {"q": '"x y"', "z": "1"}, id="quotes kept"),
        pytest.param("t=a\tb; z=1", {"t": "a\tb", "z": "1"}, id="HTAB inside kept"),
        pytest.param("a= b; z=1", {"a": "b", "z": "1"}, id="space after = trimmed"),
        pytest.param("a=\t b \t; z=1", {"a": "b", "z": "1"}, id="blanks at both ends trimmed"),
        pytest.param("p=%7B%7D; z=1", {"p": "%7B%7D", "z": "1"}, id="nothing decoded"),
        pytest.param("u=caf\u00e9; z=1", {"u": "caf\u00e9", "z": "1"}, id="non-ASCII kept"),
        # The name holds a space, so the pair is skipped.
        pytest.param("a = b; z=1", {"z": "1"}, id="spaces around ="),
        pytest.param("a=1\x00; z=1", {"z": "1"}, id="NUL spoils its pair"),
        pytest.param("a=1\r\nX: y; z=1", {"z": "1"}, id="CR LF spoils its pair"),
        pytest.param("a=\x1b[31m; z=1", {"z": "1"}, id="ESC spoils its pair"),
        pytest.param("a=\x7f; z=1", {"z": "1"}, id="DEL spoils its pair"),
    ],
)
def test_request_cookies_are_read_as_browsers_store_them(
    header: str, expected: dict[str, str]
) -> None:
    assert request_cookies(header) == expected


@pytest.mark.parametrize(
    "smuggled",
    [
        pytest.param(";  __Host-id=evil", id="second space before the name"),
        pytest.param(";\t__Host-id=evil", id="HTAB before the name"),
        pytest.param("; \t__Host-id=evil", id="SP and HTAB before the name"),
        pytest.param("; \u00a0__Host-id=evil", id="NBSP before the name"),
        pytest.param("; \u2000__Host-id=evil", id="EN QUAD before the name"),
        pytest.param("; \u3000__Host-id=evil", id="IDEOGRAPHIC SPACE before the name"),
        pytest.param("; __Host-id =evil", id="space after the name"),
        pytest.param('; "__Host-id"=evil', id="quoted name"),
        pytest.param("; \uff3f\uff3fHost-id=evil", id="fullwidth low lines"),
        pytest.param("; __\u041dost-id=evil", id="Cyrillic EN for H"),
        pytest.param("; __Ho\u017ft-id=evil", id="long s for s"),
        pytest.param("; __Host-i\u0307d=evil", id="combining dot"),
    ],
)
def test_names_are_never_trimmed_or_normalised(smuggled: str) -> None:
    # A lenient reader would turn each of these into "__Host-id", a name the
    # application trusts because browsers enforce its rules.
    assert request_cookies("a=1" + smuggled + "; b=2") == {"a": "1", "b": "2"}


def test_the_separator_browsers_write_is_read() -> None:
    assert request_cookies("a=1; __Host-id=x;b=2") == {"a": "1", "__Host-id": "x", "b": "2"}


def test_split_header_fields_are_read_like_one_header() -> None:
    assert request_cookies(['p={"a":1}', "d=e,f"]) == {"p": '{"a":1}', "d": "e,f"}


def test_the_pair_cap_still_holds_for_browser_values() -> None:
    header = "; ".join(f'k{i}={{"n": {i}}}' for i in range(250))
    cookies = request_cookies(header)
    assert len(cookies) == 200
    assert cookies["k0"] == '{"n": 0}'
    assert cookies["k199"] == '{"n": 199}'


def test_the_byte_cap_still_holds_for_browser_values() -> None:
    first = "a=" + "x y," * 4000  # 16002 characters
    second = "b=" + "y, z" * 4190 + "yz"  # 16764 characters
    header = f"{first}; {second}; c=1"
    # The second pair ends exactly at 32 KiB: kept whole, and nothing after it.
    assert len(f"{first}; {second}") == 32768
    assert request_cookies(header) == {"a": first[2:], "b": second[2:]}
    # One character longer, it straddles the cap and is dropped whole.
    header = f"{first}; {second}!; c=1"
    assert request_cookies(header) == {"a": first[2:]}


# ---------------------------------------------------------------- the session cookie


def test_a_session_cookie_next_to_browser_values_still_opens() -> None:
    clock = ManualClock(NOW)
    browser = Browser(SessionProtocol(Settings(keyring=Keyring([SECRET]))), clock, MemoryStore())
    browser.request(put("user", "ada"))
    browser.set("prefs", '{"a":1,"b":[2,3]}')
    browser.set("d", "e,f")
    result = browser.request(lambda session: session.get("user"))
    assert result.value == "ada"


@pytest.mark.parametrize("storage", ["cookie", "server"])
@pytest.mark.parametrize("damage", [" tail", ",x", '"', "\u00e9"])
def test_a_session_cookie_that_is_not_its_format_is_invalid(storage: str, damage: str) -> None:
    # The parser now keeps such a value; the session cookie's own format
    # still refuses it, as any forged cookie.
    clock = ManualClock(NOW)
    protocol = SessionProtocol(Settings(keyring=Keyring([SECRET])), storage=storage)  # type: ignore[arg-type]
    browser = Browser(protocol, clock, MemoryStore())
    browser.request(put("user", "ada"))
    browser.set("session", browser.cookies["session"] + damage)
    result = browser.request(lambda session: (session.get("user"), session.ended_reason))
    assert result.value == (None, "invalid")


# ---------------------------------------------------------------- 4096 bytes

# A six-character name: a sealed value of 4090 characters is then a base64url
# length that exists, and so is 4091 (lengths of 4k + 1 never occur).
NAME = "sessid"


def sent_size(payload_length: int) -> int:
    """Name plus value bytes of the session cookie for a payload, from the
    headers alone: with chunking on, any size is sent, and the chunks'
    values add back up to the sealed value (the first has a "count." head).
    """
    settings = Settings(keyring=Keyring([SECRET]), cookie_name=NAME, cookie_chunks=2)
    browser = Browser(SessionProtocol(settings), ManualClock(NOW), MemoryStore())
    response = browser.request(put("blob", "x" * payload_length))
    cookies = [name_and_value(header) for header in response.outcome.set_cookie_headers]
    if len(cookies) == 1:
        return len(NAME) + len(cookies[0][1])
    head = cookies[0][1].partition(".")[2]
    return len(NAME) + len(head) + sum(len(value) for _, value in cookies[1:])


def payload_for(size: int) -> int:
    for length in range(2800, 3200):
        if sent_size(length) == size:
            return length
    raise AssertionError(f"no payload makes a {size}-byte cookie")


def test_a_session_cookie_of_exactly_4096_bytes_is_sent() -> None:
    length = payload_for(4096)
    browser = Browser(
        SessionProtocol(Settings(keyring=Keyring([SECRET]), cookie_name=NAME)),
        ManualClock(NOW),
        MemoryStore(),
    )
    response = browser.request(put("blob", "x" * length))
    (header,) = response.outcome.set_cookie_headers
    name, value = name_and_value(header)
    assert (name, len(name) + len(value)) == (NAME, 4096)
    assert browser.request(lambda session: session["blob"]).value == "x" * length


def test_a_session_cookie_of_4097_bytes_is_too_large_and_says_4097() -> None:
    length = payload_for(4097)
    browser = Browser(
        SessionProtocol(Settings(keyring=Keyring([SECRET]), cookie_name=NAME)),
        ManualClock(NOW),
        MemoryStore(),
    )
    with pytest.raises(SessionTooLarge) as caught:
        browser.request(put("blob", "x" * length))
    assert (caught.value.size, caught.value.limit) == (4097, 4096)
    assert "4097 bytes" in str(caught.value)


def test_chunks_are_filled_to_exactly_4096_bytes() -> None:
    settings = Settings(keyring=Keyring([SECRET]), cookie_name=NAME, cookie_chunks=3)
    browser = Browser(SessionProtocol(settings), ManualClock(NOW), MemoryStore())
    payload = "".join(format(number, "x") for number in range(2500))  # about 9 KB
    response = browser.request(put("blob", payload))
    cookies = [name_and_value(header) for header in response.outcome.set_cookie_headers]
    assert [name for name, _ in cookies] == [NAME, f"{NAME}.1", f"{NAME}.2"]
    sizes = [len(name) + len(value) for name, value in cookies]
    assert sizes[:2] == [4096, 4096]
    assert 0 < sizes[2] <= 4096
    assert browser.request(lambda session: session["blob"]).value == payload


# ---------------------------------------------------------------- prefixes


@pytest.mark.parametrize(
    ("options", "rule"),
    [
        ({"cookie_name": "__Http-sid", "http_only": False}, "__Http- prefix requires HttpOnly"),
        ({"cookie_name": "__http-sid", "http_only": False}, "__Http- prefix requires HttpOnly"),
        ({"cookie_name": "__Http-sid", "secure": False}, "__Http- prefix requires Secure"),
        (
            {"cookie_name": "__Host-Http-sid", "http_only": False},
            "__Host-Http- prefix requires HttpOnly",
        ),
        (
            {"cookie_name": "__HOST-HTTP-sid", "http_only": False},
            "__Host-Http- prefix requires HttpOnly",
        ),
        (
            {"cookie_name": "__Host-Http-sid", "secure": False},
            "__Host-Http- prefix requires Secure",
        ),
        (
            {"cookie_name": "__Host-Http-sid", "cookie_path": "/app"},
            "__Host-Http- prefix requires Path=/",
        ),
        (
            {"cookie_name": "__Host-Http-sid", "cookie_domain": "example.com"},
            "__Host-Http- prefix forbids a Domain",
        ),
    ],
)
def test_session_cookie_prefix_rules_are_configuration_errors(
    options: dict[str, Any], rule: str
) -> None:
    with pytest.raises(ConfigurationError, match=rf"^cookie_name: .*{rule}"):
        Settings(keyring=Keyring([SECRET]), **options)


@pytest.mark.parametrize("name", ["__Http-sid", "__Host-Http-sid", "__host-http-sid"])
def test_prefixed_session_cookies_that_follow_the_rules_are_sent(name: str) -> None:
    settings = Settings(keyring=Keyring([SECRET]), cookie_name=name)
    browser = Browser(SessionProtocol(settings), ManualClock(NOW), MemoryStore())
    (header,) = browser.request(put("user", "ada")).outcome.set_cookie_headers
    assert header.startswith(f"{name}=")
    assert "; Path=/; Secure; HttpOnly" in header
    assert browser.request(lambda session: session["user"]).value == "ada"


def test_a_prefixed_session_cookie_may_be_chunked() -> None:
    # Chunk names ("__Host-Http-sid.1") carry the prefix and the same attributes.
    settings = Settings(keyring=Keyring([SECRET]), cookie_name="__Host-Http-sid", cookie_chunks=2)
    browser = Browser(SessionProtocol(settings), ManualClock(NOW), MemoryStore())
    payload = "".join(format(number, "x") for number in range(1500))
    response = browser.request(put("blob", payload))
    names = [name_and_value(header)[0] for header in response.outcome.set_cookie_headers]
    assert names == ["__Host-Http-sid", "__Host-Http-sid.1"]
    assert browser.request(lambda session: session["blob"]).value == payload


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("__Http-pref", {"http_only": False}),
        ("__Host-Http-pref", {"http_only": False}),
        ("__Host-Http-pref", {"path": "/app"}),
        ("__Host-Http-pref", {"domain": "example.com"}),
        ("__Http-pref", {"secure": False}),
    ],
)
def test_application_cookies_with_these_prefixes_are_checked(
    name: str, options: dict[str, Any]
) -> None:
    exchange = SessionProtocol(Settings(keyring=Keyring([SECRET]))).begin(None, now=NOW)
    with pytest.raises(CookieError, match=f"the {name.removesuffix('pref')} prefix"):
        exchange.set_cookie(name, "v", **options)
    with pytest.raises(CookieError):
        exchange.delete_cookie(name, **options)
    exchange.set_cookie(name, "v")  # the defaults satisfy every prefix
