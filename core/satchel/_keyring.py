"""Secrets to keys: HKDF-derived AES-256-GCM and HMAC keys, with rotation.

The first secret seals and signs; every secret opens and verifies, so a new
secret can be put in front without logging anyone out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets as _secrets
import warnings
from collections.abc import Iterable
from typing import final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ._errors import ConfigurationError, SatchelWarning

__all__ = ["Keyring", "generate_secret"]

MIN_SECRET_BYTES = 16
_HKDF_SALT = b"satchel keyring v1"
_KEYGEN_HINT = (
    "make one with `python -m satchel keygen` and pass it as "
    "Keyring([secret]) (read it from the environment or a secrets manager, "
    "never from source code)"
)


def generate_secret() -> str:
    """Return a fresh random secret (32 random bytes, base64url) for a `Keyring`."""
    return base64.urlsafe_b64encode(_secrets.token_bytes(32)).rstrip(b"=").decode()


def _derive(secret: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=_HKDF_SALT, info=info).derive(secret)


@final
class _Key:
    """Keys derived from one secret, for one purpose."""

    __slots__ = ("aead", "hint", "mac")

    def __init__(self, secret: bytes, purpose: bytes) -> None:
        self.aead = AESGCM(_derive(secret, b"aead\x00" + purpose))
        self.mac = _derive(secret, b"mac\x00" + purpose)
        # One byte naming the key in sealed values, so opening tries the right
        # key first instead of every key; collisions only cost an extra try.
        self.hint = _derive(secret, b"hint\x00" + purpose, 1)[0]

    def __repr__(self) -> str:
        return "<key>"


@final
class Keyring:
    """An ordered set of secrets: the first seals and signs, all open and verify.

    Each secret is at least 16 bytes (a ``str`` is UTF-8 encoded). Keys are
    derived per purpose with HKDF-SHA256, so the same secret never serves as
    two different keys. The keyring's ``repr`` never shows a secret.

    Raises:
        ConfigurationError: no secret, a secret shorter than 16 bytes, or the
            same secret twice.

    """

    __slots__ = ("_by_purpose", "_secrets")

    def __init__(self, secrets: Iterable[str | bytes]) -> None:
        if isinstance(secrets, str | bytes):
            raise ConfigurationError(
                "keyring: pass a list of secrets, not a single string (Keyring([secret]))"
            )
        encoded: list[bytes] = []
        for position, secret in enumerate(secrets):
            raw = secret.encode() if isinstance(secret, str) else bytes(secret)
            if len(raw) < MIN_SECRET_BYTES:
                raise ConfigurationError(
                    f"keyring: secret #{position} is {len(raw)} bytes, shorter "
                    f"than the minimum of {MIN_SECRET_BYTES}; {_KEYGEN_HINT}"
                )
            if any(hmac.compare_digest(raw, seen) for seen in encoded):
                raise ConfigurationError(f"keyring: secret #{position} repeats an earlier secret")
            encoded.append(raw)
        if not encoded:
            raise ConfigurationError(f"keyring: no secret given; {_KEYGEN_HINT}")
        self._secrets: tuple[bytes, ...] = tuple(encoded)
        self._by_purpose: dict[bytes, tuple[_Key, ...]] = {}

    @classmethod
    def throwaway(cls) -> Keyring:
        """A keyring with one random secret, for tests and demos only.

        Emits a `SatchelWarning`: sessions sealed with it do not survive a
        restart of the process, and processes do not share them.
        """
        warnings.warn(
            "satchel is using a throwaway keyring: sessions will not survive a "
            "restart and are not shared between processes; " + _KEYGEN_HINT,
            SatchelWarning,
            stacklevel=2,
        )
        return cls([os.urandom(32)])

    def __len__(self) -> int:
        return len(self._secrets)

    def __repr__(self) -> str:
        return f"<Keyring of {len(self._secrets)} secret(s)>"

    def keys(self, purpose: bytes) -> tuple[_Key, ...]:
        """The keys for `purpose`, newest (sealing) first. Built once, then cached."""
        keys = self._by_purpose.get(purpose)
        if keys is None:
            keys = tuple(_Key(secret, purpose) for secret in self._secrets)
            self._by_purpose[purpose] = keys
        return keys


def mac(key: bytes, message: bytes, length: int = 16) -> bytes:
    """HMAC-SHA256 of `message`, truncated to `length` bytes."""
    return hmac.digest(key, message, hashlib.sha256)[:length]
