from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from satchel import Keyring
from satchel._seal import IdCodec, Sealer, b64decode, b64encode, store_key

RING = Keyring(["seal test secret number one"])
OTHER = Keyring(["seal test secret number two"])
SEALER = Sealer(RING, "session")


@given(st.binary(max_size=2048))
def test_seal_open_round_trips(plaintext: bytes) -> None:
    assert SEALER.open(SEALER.seal(plaintext)) == (plaintext, True)


@given(st.binary(min_size=1, max_size=256), st.data())
def test_any_bit_flip_opens_to_nothing(plaintext: bytes, data: st.DataObject) -> None:
    raw = bytearray(b64decode(SEALER.seal(plaintext)) or b"")
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    assert SEALER.open(b64encode(bytes(raw))) is None


@given(st.binary(max_size=256), st.data())
def test_any_truncation_opens_to_nothing(plaintext: bytes, data: st.DataObject) -> None:
    sealed = SEALER.seal(plaintext)
    cut = data.draw(st.integers(0, len(sealed) - 1))
    assert SEALER.open(sealed[:cut]) is None


@given(st.text(max_size=300))
def test_garbage_never_raises(value: str) -> None:
    assert SEALER.open(value) is None


def test_wrong_key_other_cookie_and_unknown_version_open_to_nothing() -> None:
    sealed = SEALER.seal(b"payload")
    assert Sealer(OTHER, "session").open(sealed) is None
    assert Sealer(RING, "other").open(sealed) is None
    raw = bytearray(b64decode(sealed) or b"")
    raw[0] = 2
    assert SEALER.open(b64encode(bytes(raw))) is None


def test_rotation_old_key_opens_and_is_reported_as_not_newest() -> None:
    old_value = Sealer(OTHER, "session").seal(b"from before")
    rotated = Sealer(
        Keyring(["a brand new secret 2026", *["seal test secret number two"]]),
        "session",
    )
    assert rotated.open(old_value) == (b"from before", False)
    assert rotated.open(rotated.seal(b"x")) == (b"x", True)


def test_padding_and_standard_alphabet_are_rejected() -> None:
    sealed = SEALER.seal(b"payload")
    assert SEALER.open(sealed + "=") is None
    standard = base64.b64encode(b64decode(sealed) or b"").decode()
    if standard.rstrip("=") != sealed:
        assert SEALER.open(standard) is None


def test_id_codec_authenticates_and_rejects_forgery() -> None:
    codec = IdCodec(RING, "session")
    session_id = codec.new_id()
    value = codec.encode(session_id, 100.0, 200.0)
    assert codec.decode(value) == (session_id, 100.0, 200.0)
    assert IdCodec(OTHER, "session").decode(value) is None
    assert IdCodec(RING, "other").decode(value) is None
    raw = bytearray(b64decode(value) or b"")
    for position in (2, 40, len(raw) - 1):
        forged = bytearray(raw)
        forged[position] ^= 1
        assert codec.decode(b64encode(bytes(forged))) is None


def test_ids_are_random_and_32_bytes() -> None:
    ids = {IdCodec.new_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(item) == 32 for item in ids)


def test_store_key_is_a_hash_not_the_id() -> None:
    session_id = IdCodec.new_id()
    key = store_key(session_id)
    assert key == store_key(session_id)
    assert b64encode(session_id) not in key
    assert key != store_key(IdCodec.new_id())


@given(st.binary(min_size=1, max_size=64), st.data())
def test_only_the_canonical_spelling_decodes(raw: bytes, data: st.DataObject) -> None:
    text = b64encode(raw)
    assert b64decode(text) == raw
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    other = data.draw(st.sampled_from([c for c in alphabet if c != text[-1]]))
    assert b64decode(text[:-1] + other) != raw


def test_changing_the_last_character_of_a_sealed_value_opens_to_nothing() -> None:
    for size in range(40):
        sealed = SEALER.seal(b"x" * size)
        for replacement in "ABQg":
            if replacement != sealed[-1]:
                assert SEALER.open(sealed[:-1] + replacement) is None
