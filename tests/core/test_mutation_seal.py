"""Sealing and session-ID behaviour that only a changed line of _seal.py would break."""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest

from satchel import Keyring
from satchel._keyring import _derive
from satchel._seal import IdCodec, b64decode, b64encode

SECRET = "session-id mutation test secret"
COOKIE = "session"


def signed_id_cookie(version: int) -> str:
    """An ID cookie laid out as docs/security.md says, signed with the right key."""
    key = Keyring([SECRET]).keys(b"session-id")[0]
    body = struct.pack(">BB32sdd", version, key.hint, b"\x07" * 32, 1.0e9, 1.0e9 + 5)
    mac_key = _derive(SECRET.encode(), b"mac\x00session-id")
    prefix = b"satchel/session-id/v1\x00" + COOKIE.encode() + b"\x00"
    return b64encode(body + hmac.digest(mac_key, prefix + body, hashlib.sha256)[:16])


def test_an_authentic_id_cookie_of_another_version_is_refused() -> None:
    codec = IdCodec(Keyring([SECRET]), COOKIE)
    assert codec.decode(signed_id_cookie(1)) == (b"\x07" * 32, 1.0e9, 1.0e9 + 5)
    assert codec.decode(signed_id_cookie(2)) is None
    assert codec.decode(signed_id_cookie(0)) is None


@pytest.mark.parametrize(
    "value",
    ["!" * 88, "=" * 88, "é" * 88, "A" * 87 + "B", " " * 88],
    ids=["punctuation", "padding", "non-ASCII", "non-canonical", "blanks"],
)
def test_an_id_cookie_of_the_right_length_that_is_not_base64url_is_refused(value: str) -> None:
    assert IdCodec(Keyring([SECRET]), COOKIE).decode(value) is None


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"\x00\x00\x17", "AAAX"),  # a last character that is also in "X="
        (b"\xff\xff\xff", "____"),
        (b"\xfb\xef\xbe", "----"),
        (b"\x00", "AA"),
        (b"\x00\x00", "AAA"),
        (b"", ""),
    ],
)
def test_base64url_known_answers(raw: bytes, text: str) -> None:
    assert b64encode(raw) == text
    assert b64decode(text) == raw
