"""Keyring behaviour that only a changed line of _keyring.py would break (make mutate)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from satchel import Keyring, generate_secret
from satchel._keyring import mac


def test_generated_secrets_are_43_characters_of_unpadded_base64url() -> None:
    for _ in range(20):
        secret = generate_secret()
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", secret), secret
        assert len(base64.urlsafe_b64decode(secret + "=")) == 32


def test_mac_defaults_to_16_bytes_of_hmac_sha256() -> None:
    key, message = b"k" * 32, b"message"
    full = hmac.new(key, message, hashlib.sha256).digest()
    assert mac(key, message) == full[:16]
    assert mac(key, message, 32) == full


def test_keys_are_built_once_per_purpose_and_cached() -> None:
    ring = Keyring(["a secret of sixteen bytes or more", "an older secret, also long enough"])
    first = ring.keys(b"cookie-storage")
    assert len(first) == 2
    assert ring.keys(b"cookie-storage") is first
    assert ring.keys(b"session-id") is not first
