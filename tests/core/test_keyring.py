from __future__ import annotations

import base64
import subprocess
import sys
import warnings

import pytest

from satchel import ConfigurationError, Keyring, SatchelWarning, generate_secret
from satchel.__main__ import main


def test_first_secret_seals_all_open() -> None:
    old = Keyring(["old secret, sixteen+"])
    rotated = Keyring(["new secret, sixteen+", "old secret, sixteen+"])
    assert len(rotated) == 2
    assert rotated.keys(b"p")[1].mac == old.keys(b"p")[0].mac


def test_purposes_get_different_keys() -> None:
    ring = Keyring(["x" * 16])
    assert ring.keys(b"a")[0].mac != ring.keys(b"b")[0].mac


@pytest.mark.parametrize(
    ("secrets", "fragment"),
    [
        ([], "no secret"),
        (["short"], "shorter than the minimum of 16"),
        (["a" * 15], "15 bytes"),
        (["a" * 16, "a" * 16], "repeats"),
        ("a" * 32, "not a single string"),
    ],
)
def test_bad_keyrings_are_configuration_errors(secrets: object, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment) as info:
        Keyring(secrets)  # type: ignore[arg-type]
    assert "keyring" in str(info.value)


def test_sixteen_bytes_is_enough_and_bytes_work() -> None:
    Keyring([b"\x00" * 16])
    Keyring(["é" * 8])  # 16 bytes in UTF-8


def test_repr_never_shows_secrets() -> None:
    secret = "super secret value 123456"
    ring = Keyring([secret])
    assert secret not in repr(ring)
    assert secret not in repr(ring.keys(b"cookie-storage"))


def test_throwaway_warns() -> None:
    with pytest.warns(SatchelWarning, match="will not survive a restart"):
        ring = Keyring.throwaway()
    assert len(ring) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SatchelWarning)
        assert Keyring.throwaway().keys(b"x")[0].mac != ring.keys(b"x")[0].mac


def test_generate_secret_is_random_base64url_of_32_bytes() -> None:
    one, two = generate_secret(), generate_secret()
    assert one != two
    assert len(base64.urlsafe_b64decode(one + "=")) == 32
    Keyring([one])


def test_keygen_command_prints_a_usable_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["keygen"]) == 0
    printed = capsys.readouterr().out.strip()
    Keyring([printed])


def test_python_dash_m_satchel_keygen() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "satchel", "keygen"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert len(done.stdout.strip()) == 43
