"""Sealing records into cookie values, and authenticating session IDs.

Sealed value (cookie storage), base64url without padding::

    version (1) | key hint (1) | nonce (12) | AES-256-GCM ciphertext + tag (16)

The associated data binds the purpose, the framing version and the cookie
name, so a value moved to another cookie, or to another purpose, does not open.

Session ID cookie (server storage), base64url without padding::

    version (1) | key hint (1) | id (32) | created_at (8) | last_access (8) | tag (16)

where the tag is HMAC-SHA256 (truncated to 16 bytes) over the purpose, the
cookie name and everything before it. A forged or malformed ID is rejected
without a store round trip. The timestamps only explain why a session whose
record is gone has ended; the record's own timestamps decide expiry.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import os
import struct
from typing import Final, final

from cryptography.exceptions import InvalidTag

from ._keyring import Keyring, mac

__all__ = ["IdCodec", "Sealer", "b64decode", "b64encode", "store_key"]

SEAL_VERSION: Final = 1
ID_VERSION: Final = 1
ID_BYTES: Final = 32
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
SEAL_OVERHEAD: Final = 2 + NONCE_BYTES + TAG_BYTES

_ID_LAYOUT = struct.Struct(f">BB{ID_BYTES}sdd")
_ID_TOTAL: Final = _ID_LAYOUT.size + TAG_BYTES
_ID_TEXT_LENGTH: Final = (4 * _ID_TOTAL + 2) // 3  # base64url, unpadded


_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64encode(raw: bytes) -> str:
    """base64url without padding."""
    # binascii directly: the base64 module's wrappers cost more than the
    # encoding itself for a cookie-sized value.
    return (
        binascii.b2a_base64(raw, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode("ascii")
    )


# base64url to the standard alphabet; the standard alphabet's own "+", "/" and
# "=" become "!", which the strict decoder refuses, so a value has exactly one
# accepted textual form and nothing outside the alphabet is silently skipped.
_FROM_URLSAFE = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING = (b"", b"", b"==", b"=")


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# A final character that stands for 4 (or 2) bits of a partial group may only
# be one whose unused low bits are zero; others decode to the same bytes as
# the canonical form and would give one value a second spelling.
_CANONICAL_LAST: tuple[frozenset[str], ...] = (
    frozenset(_ALPHABET),
    frozenset(),
    frozenset(char for index, char in enumerate(_ALPHABET) if index & 0b1111 == 0),
    frozenset(char for index, char in enumerate(_ALPHABET) if index & 0b11 == 0),
)


def b64decode(text: str) -> bytes | None:
    """Decode base64url without padding; ``None`` for anything malformed.

    Only the canonical form is accepted: every value has one spelling.
    """
    if text and text[-1] not in _CANONICAL_LAST[len(text) % 4]:
        return None
    try:
        return binascii.a2b_base64(
            text.encode("ascii").translate(_FROM_URLSAFE) + _PADDING[len(text) % 4],
            strict_mode=True,
        )
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def store_key(session_id: bytes) -> str:
    """The store key for a session ID: a namespaced SHA-256, never the ID itself.

    Unkeyed on purpose: rotating secrets must not orphan stored sessions, and
    a 256-bit random ID cannot be recovered from its hash.
    """
    digest = hashlib.sha256(b"satchel/session-id/v1\x00" + session_id).digest()
    return b64encode(digest)


@final
class Sealer:
    """Seal and open records for one cookie name with a keyring."""

    __slots__ = ("_keys", "_newest")

    def __init__(self, keyring: Keyring, cookie_name: str) -> None:
        aad = b"satchel/cookie-storage/v1\x00" + cookie_name.encode("ascii")
        # Per key, in keyring order: (hint, the 2-byte header, associated data, AEAD).
        self._keys = tuple(
            (key.hint, header, header + aad, key.aead)
            for key in keyring.keys(b"cookie-storage")
            for header in (bytes((SEAL_VERSION, key.hint)),)
        )
        self._newest = self._keys[0]

    def __repr__(self) -> str:
        return "<Sealer>"

    def seal(self, plaintext: bytes) -> str:
        """Encrypt and authenticate `plaintext` with the newest key."""
        _, header, aad, aead = self._newest
        nonce = os.urandom(NONCE_BYTES)
        return b64encode(header + nonce + aead.encrypt(nonce, plaintext, aad))

    def open(self, value: str) -> tuple[bytes, bool] | None:
        """Decrypt `value`; ``(plaintext, sealed_with_newest_key)`` or ``None``.

        Never raises: a bit flip, truncation, wrong key, another cookie's value
        or an unknown version all open to ``None``.
        """
        raw = b64decode(value)
        if raw is None or len(raw) < SEAL_OVERHEAD or raw[0] != SEAL_VERSION:
            return None
        hint = raw[1]
        newest = True
        for key_hint, _, aad, aead in self._keys:
            if key_hint == hint:
                try:
                    return (
                        aead.decrypt(raw[2 : 2 + NONCE_BYTES], raw[2 + NONCE_BYTES :], aad),
                        newest,
                    )
                except InvalidTag:  # a hint collision: try the next key
                    pass
            newest = False
        return None


@final
class IdCodec:
    """Issue and authenticate session-ID cookies for one cookie name."""

    __slots__ = ("_keys", "_prefix")

    def __init__(self, keyring: Keyring, cookie_name: str) -> None:
        self._keys = keyring.keys(b"session-id")
        self._prefix = b"satchel/session-id/v1\x00" + cookie_name.encode("ascii") + b"\x00"

    def __repr__(self) -> str:
        return "<IdCodec>"

    @staticmethod
    def new_id() -> bytes:
        """A fresh 256-bit random session ID."""
        return os.urandom(ID_BYTES)

    def encode(self, session_id: bytes, created_at: float, last_access: float) -> str:
        """The cookie value carrying `session_id`, signed with the newest key."""
        key = self._keys[0]
        body = _ID_LAYOUT.pack(ID_VERSION, key.hint, session_id, created_at, last_access)
        return b64encode(body + mac(key.mac, self._prefix + body, TAG_BYTES))

    def decode(self, value: str) -> tuple[bytes, float, float] | None:
        """``(id, created_at, last_access)`` if `value` authenticates, else ``None``."""
        if len(value) != _ID_TEXT_LENGTH:
            return None
        raw = b64decode(value)
        if raw is None or len(raw) != _ID_TOTAL or raw[0] != ID_VERSION:
            return None
        body, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
        for key in self._keys:
            if key.hint == body[1] and hmac.compare_digest(
                mac(key.mac, self._prefix + body, TAG_BYTES), tag
            ):
                _, _, session_id, created_at, last_access = _ID_LAYOUT.unpack(body)
                return session_id, created_at, last_access
        return None
