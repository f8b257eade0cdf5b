"""Known-answer vectors for every format satchel writes, and values that must keep opening.

The literals here were produced by satchel and are committed on purpose. If
one of the "writes" tests fails, a change altered a wire or storage format:
every user would be logged out (cookie storage, session-ID cookies) or every
stored session orphaned (store keys, records) on upgrade. A deliberate
change bumps the format's version byte, keeps opening the old version, adds
new vectors here and leaves the old opening vectors in place.

The expected values are never taken from the constants under test: the
salt, the labels, the layouts and the prefixes are spelled out below as the
documented format (docs/security.md, docs/record.md).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from satchel import Keyring, Load, Loaded, Save, Saved, SessionProtocol, Settings
from satchel._keyring import _derive
from satchel._record import Record, pack_map, pack_record
from satchel._seal import IdCodec, Sealer, b64decode, b64encode, store_key

SECRET = "satchel format vector secret, v1"
NEWER_SECRET = "a newer secret, put in front later"
NOW = 1_700_000_000.5  # 2023-11-14T22:13:20.5Z
NONCE = bytes(range(0xA0, 0xAC))  # 12 bytes
SESSION_ID = bytes(range(0x20, 0x40))  # 32 bytes
COOKIE = "session"

# ---------------------------------------------------------------- keys

# HKDF-SHA256, salt b"satchel keyring v1", info b"<use>\x00<purpose>", 32 bytes.
DERIVED_KEYS = {
    b"aead\x00cookie-storage": "785bf10c5d8b71ade7edac6ab77e40b2c1e4a69be8e5891c7ec5f860bb5d956b",
    b"mac\x00cookie-storage": "e1d3d6ff9123b6203a0aabee53096d42339357b3bd5e10e7e1c03bcec4e0a676",
    b"hint\x00cookie-storage": "5467c469da46316a4aa4f879742962a96b26d6986874578fd689aac0cb4b0d9b",
    b"aead\x00session-id": "12e4990f1a320b461936caccc7add79a0c433891985597679661bc207a45c211",
    b"mac\x00session-id": "34e9d2605bedaf1aa5e38f5bdd11fc090e9fe91def31f296a1d62773b8251545",
    b"hint\x00session-id": "91ef9fcf7a1e38144dc74c2bc86717ea352c2bd58309ad5b5e53a51406fffd06",
}
COOKIE_STORAGE_HINT = 0x54  # first byte of the cookie-storage hint derivation
SESSION_ID_HINT = 0x91


def hkdf_sha256(secret: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """RFC 5869, written out with hmac so the vectors do not rest on the code under test."""
    prk = hmac.digest(salt, secret, hashlib.sha256)
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.digest(prk, block + info + bytes((counter,)), hashlib.sha256)
        okm += block
        counter += 1
    return okm[:length]


@pytest.mark.parametrize(
    "info", list(DERIVED_KEYS), ids=lambda info: info.decode().replace("\x00", "/")
)
def test_derived_key_bytes_per_purpose(info: bytes) -> None:
    expected = bytes.fromhex(DERIVED_KEYS[info])
    assert hkdf_sha256(SECRET.encode(), b"satchel keyring v1", info) == expected
    assert _derive(SECRET.encode(), info) == expected


def test_keyring_uses_the_derived_keys() -> None:
    ring = Keyring([SECRET])
    (cookie_key,) = ring.keys(b"cookie-storage")
    (id_key,) = ring.keys(b"session-id")
    assert cookie_key.hint == COOKIE_STORAGE_HINT
    assert id_key.hint == SESSION_ID_HINT
    assert id_key.mac == bytes.fromhex(DERIVED_KEYS[b"mac\x00session-id"])
    nonce, plaintext = b"\x00" * 12, b"probe"
    reference = AESGCM(bytes.fromhex(DERIVED_KEYS[b"aead\x00cookie-storage"]))
    assert cookie_key.aead.encrypt(nonce, plaintext, b"") == reference.encrypt(
        nonce, plaintext, b""
    )


# ---------------------------------------------------------------- writing

SEALED_PLAINTEXT = b"satchel vector plaintext"
SEALED_VALUE = "AVSgoaKjpKWmp6ipqqu-YAOMBz5ZbRRo8za9ukuyvQ3NHeaLIy0ZwD1lQHIBgksNOPqeRMGq"
ID_COOKIE_VALUE = (
    "AZEgISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-P0HZVPxAIAAAQdlU_E8gAACtO11NpKIsQIEgW5MS5sL9"
)
STORE_KEY = "CE0KP21f8_gD-CUlcyONrpOmC-zinJe27-bKelvk0i8"

VECTOR_DATA: dict[str, Any] = {
    "user": "ada",
    "n": 42,
    "cart": [1, 2.5, None, True],
    "blob": b"\x00\xff",
    "when": datetime(2024, 2, 29, 12, 0, 0, tzinfo=UTC),
    "é": {"nested": ["ü"]},
}
VECTOR_FLASH = {"notice": "saved"}
PACKED_RECORD = bytes.fromhex(
    "0141d954fc4020000041d954fc4f2000000000000e81a66e6f74696365a5736176656486a475"
    "736572a3616461a16e2aa4636172749401cb4004000000000000c0c3a4626c6f62c40200ffa4"
    "7768656ed6ff65e071c0a2c3a981a66e657374656491a2c3bc"
)


@pytest.fixture
def fixed_random(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nonces (12 bytes) and session IDs (32 bytes) from os.urandom, made fixed."""

    def urandom(size: int) -> bytes:
        assert size in (12, 32)
        return NONCE if size == 12 else SESSION_ID

    monkeypatch.setattr(os, "urandom", urandom)


def test_sealed_cookie_value_bytes(fixed_random: None) -> None:
    value = Sealer(Keyring([SECRET]), COOKIE).seal(SEALED_PLAINTEXT)
    assert value == SEALED_VALUE
    # The documented framing: version 1 | key hint | nonce | AES-256-GCM(ct + tag),
    # the associated data binding the header, the purpose and the cookie name.
    raw = b64decode(value)
    assert raw is not None
    assert raw[:2] == bytes((1, COOKIE_STORAGE_HINT))
    assert raw[2:14] == NONCE
    aead = AESGCM(bytes.fromhex(DERIVED_KEYS[b"aead\x00cookie-storage"]))
    aad = raw[:2] + b"satchel/cookie-storage/v1\x00" + COOKIE.encode()
    assert aead.decrypt(raw[2:14], raw[14:], aad) == SEALED_PLAINTEXT
    assert len(raw) == 2 + 12 + len(SEALED_PLAINTEXT) + 16


def test_session_id_cookie_value_bytes() -> None:
    value = IdCodec(Keyring([SECRET]), COOKIE).encode(SESSION_ID, NOW, NOW + 60)
    assert value == ID_COOKIE_VALUE
    assert len(value) == 88
    raw = b64decode(value)
    assert raw is not None
    body = struct.pack(">BB32sdd", 1, SESSION_ID_HINT, SESSION_ID, NOW, NOW + 60)
    tag = hmac.digest(
        bytes.fromhex(DERIVED_KEYS[b"mac\x00session-id"]),
        b"satchel/session-id/v1\x00" + COOKIE.encode() + b"\x00" + body,
        hashlib.sha256,
    )[:16]
    assert raw == body + tag


def test_store_key_bytes() -> None:
    assert store_key(SESSION_ID) == STORE_KEY
    digest = hashlib.sha256(b"satchel/session-id/v1\x00" + SESSION_ID).digest()
    assert b64decode(STORE_KEY) == digest


def test_packed_record_bytes() -> None:
    packed = pack_record(
        created_at=NOW,
        last_access=NOW + 60,
        flash_blob=pack_map(VECTOR_FLASH),
        data_blob=pack_map(VECTOR_DATA),
    )
    assert packed == PACKED_RECORD
    # version 1 | created_at (f64 BE) | last_access (f64 BE) | flash length (u32 BE) | ...
    assert packed[:1] == b"\x01"
    assert packed[1:9] == struct.pack(">d", NOW)
    assert packed[9:17] == struct.pack(">d", NOW + 60)
    assert packed[17:21] == (14).to_bytes(4, "big")


# The second record version: the same session with an owner and a label.
OWNER, LABEL = "ada@example.com", "Firefox on Linux"
PACKED_OWNED_RECORD = bytes.fromhex(
    "0241d954fc4020000041d954fc4f2000000000000e0f10616461406578616d706c652e636f6d"
    "46697265666f78206f6e204c696e757881a66e6f74696365a5736176656486a475736572a361"
    "6461a16e2aa4636172749401cb4004000000000000c0c3a4626c6f62c40200ffa47768656ed6"
    "ff65e071c0a2c3a981a66e657374656491a2c3bc"
)


def test_packed_owned_record_bytes() -> None:
    flash_blob, data_blob = pack_map(VECTOR_FLASH), pack_map(VECTOR_DATA)
    packed = pack_record(
        created_at=NOW,
        last_access=NOW + 60,
        flash_blob=flash_blob,
        data_blob=data_blob,
        owner=OWNER,
        label=LABEL,
    )
    assert packed == PACKED_OWNED_RECORD
    # version 2 | created_at | last_access | flash length (u32 BE) | owner length (u8)
    # | label length (u8) | owner | label | flash | data
    header = struct.pack(">BddIBB", 2, NOW, NOW + 60, len(flash_blob), 15, 16)
    assert packed == header + OWNER.encode() + LABEL.encode() + flash_blob + data_blob


@pytest.mark.parametrize("authenticated", [False, True])
def test_owned_record_vector_opens(authenticated: bool) -> None:
    record = Record.unpack(PACKED_OWNED_RECORD, authenticated=authenticated)
    assert record is not None
    assert (record.created_at, record.last_access) == (NOW, NOW + 60)
    assert (record.owner, record.label) == (OWNER, LABEL)
    assert record.data == VECTOR_DATA
    assert record.flash == VECTOR_FLASH


# The same session written by a whole exchange, cookie and server storage.
EXCHANGE_SET_COOKIE = {
    "cookie": (
        "session=AVSgoaKjpKWmp6ipqqvMQK67kxsVTWJMSRYuiEvC0Wykc5xv_Tf1Rt5fg18Xq6veU9slB_up6z9fx1QP"
        "8niyJ4J5iINcjphtckSbUhj6J9AxD_tliF2YmCkt_nE2Y-4GPNNeOs2cY1fMiWfSutjuTIwwGyxBtMLyQd6G2xku"
        "ObfMdcw; Path=/; Secure; HttpOnly; SameSite=Lax"
    ),
    "server": (
        "session=AZEgISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-P0HZVPxAIAAAQdlU_EAgAACXOsCKKjjcyX9C"
        "KN8nG1gN; Path=/; Secure; HttpOnly; SameSite=Lax"
    ),
}
EXCHANGE_RECORD = bytes.fromhex(
    "0141d954fc4020000041d954fc402000000000000e81a66e6f74696365a5736176656486a475"
    "736572a3616461a16e2aa4636172749401cb4004000000000000c0c3a4626c6f62c40200ffa4"
    "7768656ed6ff65e071c0a2c3a981a66e657374656491a2c3bc"
)


@pytest.mark.parametrize("storage", ["cookie", "server"])
def test_exchange_writes_the_vector(fixed_random: None, storage: Any) -> None:
    protocol = SessionProtocol(Settings(keyring=Keyring([SECRET])), storage=storage)
    exchange = protocol.begin(None, now=NOW)
    exchange.open()
    exchange.session.update(VECTOR_DATA)
    exchange.session.flash("notice", "saved")
    op = exchange.finish()
    saves: list[Save] = []
    while op is not None:
        assert isinstance(op, Save)
        saves.append(op)
        op = exchange.send(Saved(revision=1))
    assert exchange.outcome.set_cookie_headers == (EXCHANGE_SET_COOKIE[storage],)
    if storage == "server":
        assert [(save.key, save.value, save.ttl) for save in saves] == [
            (STORE_KEY, EXCHANGE_RECORD, 1800)
        ]
    else:
        assert saves == []


# ---------------------------------------------------------------- opening

# Made by satchel (random nonces and IDs) and kept for every later release:
# a session created at CREATED with "user", "roles" and "since", then written
# again at LAST with "count" and a flash message.
CREATED = 1_700_000_000.5
LAST = 1_700_000_900.25
OPENED_DATA: dict[str, Any] = {
    "user": "grace",
    "roles": ["admin", "ops"],
    "since": datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC),
    "count": 7,
}
OPENED_FLASH = {"notice": "welcome back"}
OLD_SEALED_COOKIE = (
    "AVQ3793Ze9nUVQoJ6Q3L1VlguONpvSep7D0MQOQelcphe83Q-UG1G2aia1vvxTYEPeiVEv-QZm3rkmDeiJUOvoNPkV"
    "fx7pjIzb76aq67KPcacrd5U7pphNsGLb9V-2yVo29JIvNbFc35ZqRYDEtx-ciT-XZdGdd0AK2ifw"
)
OLD_ID_COOKIE = (
    "AZEXVvpkbSivTEgVNH0b_hA7bX-NdUPcq9IT3F4ecw_ZYkHZVPxAIAAAQdlU_SEQAAAqseVWBvTig3Ier_-vR7-I"
)
OLD_STORE_KEY = "7qcby_HVFeqlWCW3tSh1HZpnDxVl0R2-Jg81Y6p9WT8"
OLD_RECORD = bytes.fromhex(
    "0141d954fc4020000041d954fd211000000000001581a66e6f74696365ac77656c636f6d6520"
    "6261636b84a475736572a56772616365a5726f6c657392a561646d696ea36f7073a573696e63"
    "65d7ff773594006553f100a5636f756e7407"
)


def assert_opened_record(record: Record | None) -> None:
    assert record is not None
    assert (record.created_at, record.last_access) == (CREATED, LAST)
    assert record.data == OPENED_DATA
    assert record.flash == OPENED_FLASH


@pytest.mark.parametrize("authenticated", [False, True])
def test_old_record_opens(authenticated: bool) -> None:
    assert_opened_record(Record.unpack(OLD_RECORD, authenticated=authenticated))


@pytest.mark.parametrize(
    "secrets", [[SECRET], [NEWER_SECRET, SECRET]], ids=["same key", "after rotation"]
)
def test_old_sealed_cookie_opens(secrets: list[str]) -> None:
    opened = Sealer(Keyring(secrets), COOKIE).open(OLD_SEALED_COOKIE)
    assert opened is not None
    plaintext, newest = opened
    assert newest is (secrets[0] == SECRET)
    assert_opened_record(Record.unpack(plaintext, authenticated=True))


@pytest.mark.parametrize(
    "secrets", [[SECRET], [NEWER_SECRET, SECRET]], ids=["same key", "after rotation"]
)
def test_old_session_id_cookie_authenticates(secrets: list[str]) -> None:
    decoded = IdCodec(Keyring(secrets), COOKIE).decode(OLD_ID_COOKIE)
    assert decoded is not None
    session_id, created_at, last_access = decoded
    assert (created_at, last_access) == (CREATED, LAST)
    assert store_key(session_id) == OLD_STORE_KEY


@pytest.mark.parametrize("storage", ["cookie", "server"])
def test_old_cookies_open_through_the_exchange(storage: Any) -> None:
    protocol = SessionProtocol(Settings(keyring=Keyring([NEWER_SECRET, SECRET])), storage=storage)
    value = OLD_SEALED_COOKIE if storage == "cookie" else OLD_ID_COOKIE
    exchange = protocol.begin(f"{COOKIE}={value}", now=LAST + 60)
    exchange.open()
    op = exchange.next_op()
    loads = []
    while op is not None:
        assert isinstance(op, Load)
        loads.append(op.key)
        op = exchange.send(Loaded(value=OLD_RECORD, revision=3))
    assert loads == ([] if storage == "cookie" else [OLD_STORE_KEY])
    session = exchange.session
    assert not session.is_new
    assert session.ended_reason is None
    assert dict(session) == OPENED_DATA
    assert dict(session.flashed) == OPENED_FLASH
    assert session.created_at == CREATED


def test_other_cookie_name_or_version_does_not_open_the_old_values() -> None:
    ring = Keyring([SECRET])
    assert Sealer(ring, "other").open(OLD_SEALED_COOKIE) is None
    assert IdCodec(ring, "other").decode(OLD_ID_COOKIE) is None
    raw = bytearray(b64decode(OLD_SEALED_COOKIE) or b"")
    raw[0] = 2
    assert Sealer(ring, COOKIE).open(b64encode(bytes(raw))) is None
    record = bytearray(OLD_RECORD)
    record[0] = 2
    assert Record.unpack(bytes(record)) is None
