from __future__ import annotations

from typing import Any

import pytest

from satchel import ConfigurationError, Keyring, SessionProtocol, Settings


def test_no_keyring_is_a_startup_error_that_says_how_to_make_one() -> None:
    with pytest.raises(ConfigurationError, match="python -m satchel keygen") as info:
        Settings()
    assert "keyring" in str(info.value)


def test_defaults_are_the_safe_choice(keyring: Keyring) -> None:
    settings = Settings(keyring=keyring)
    assert settings.secure is True
    assert settings.http_only is True
    assert settings.same_site == "lax"
    assert settings.cookie_path == "/"
    assert settings.cookie_domain is None
    assert settings.persistent is False
    assert settings.idle_timeout == 1800
    assert settings.absolute_timeout == 12 * 3600
    assert settings.touch_interval == 180
    assert settings.attributes() == "; Path=/; Secure; HttpOnly; SameSite=Lax"


def test_secure_off_is_explicit(keyring: Keyring) -> None:
    settings = Settings(keyring=keyring, secure=False)
    assert "Secure" not in settings.attributes()


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"keyring": "a secret string"}, "keyring"),
        ({"idle_timeout": 0}, "idle_timeout"),
        ({"idle_timeout": -5}, "idle_timeout"),
        ({"idle_timeout": float("inf")}, "idle_timeout"),
        ({"idle_timeout": True}, "idle_timeout"),
        ({"absolute_timeout": 60}, "absolute_timeout"),
        ({"touch_interval": 1800}, "touch_interval"),
        ({"touch_interval": 0}, "touch_interval"),
        ({"same_site": "sometimes"}, "same_site"),
        ({"same_site": "none", "secure": False}, "same_site"),
        ({"partitioned": True, "secure": False}, "partitioned"),
        ({"cookie_name": "bad name"}, "cookie_name"),
        ({"cookie_name": "bad;name"}, "cookie_name"),
        ({"cookie_name": "session.v2"}, "cookie_name"),
        ({"cookie_name": ""}, "cookie_name"),
        ({"cookie_name": "__Host-session", "secure": False}, "cookie_name"),
        (
            {"cookie_name": "__Host-session", "cookie_domain": "example.com"},
            "cookie_name",
        ),
        ({"cookie_name": "__Host-session", "cookie_path": "/app"}, "cookie_name"),
        ({"cookie_name": "__Secure-session", "secure": False}, "cookie_name"),
        ({"cookie_path": "no-slash"}, "cookie_path"),
        ({"cookie_path": "/a;b"}, "cookie_path"),
        ({"cookie_domain": "exa mple.com"}, "cookie_domain"),
        ({"cookie_domain": "example.com\r\nX: y"}, "cookie_domain"),
        ({"secure": "yes"}, "secure"),
        ({"max_cookie_size": 5000}, "max_cookie_size"),
        ({"cookie_chunks": 0}, "cookie_chunks"),
        ({"cookie_chunks": 9}, "cookie_chunks"),
        ({"conflict_deadline": 0}, "conflict_deadline"),
        ({"conflict_deadline": float("inf")}, "conflict_deadline"),
        ({"conflict_deadline": 61}, "conflict_deadline"),
        ({"clock_skew": -1}, "clock_skew"),
    ],
)
def test_bad_settings_name_the_setting(
    keyring: Keyring, overrides: dict[str, Any], setting: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings(**{"keyring": keyring, **overrides})
    assert setting in str(info.value)


def test_prefixed_names_that_follow_the_rules_are_fine(keyring: Keyring) -> None:
    Settings(keyring=keyring, cookie_name="__Host-session")
    Settings(keyring=keyring, cookie_name="__Secure-session", cookie_domain="example.com")


def test_same_site_is_case_insensitive(keyring: Keyring) -> None:
    assert Settings(keyring=keyring, same_site="Strict").same_site == "strict"  # type: ignore[arg-type]


def test_touch_interval_follows_idle_timeout(keyring: Keyring) -> None:
    assert Settings(keyring=keyring, idle_timeout=600).touch_interval == 60


def test_evolve_validates(keyring: Keyring) -> None:
    settings = Settings(keyring=keyring)
    assert settings.evolve(idle_timeout=60, touch_interval=6).idle_timeout == 60
    with pytest.raises(ConfigurationError, match="idle_timeout"):
        settings.evolve(idle_timeout=-1)


def test_repr_hides_the_keyring(keyring: Keyring) -> None:
    assert "keyring" not in repr(Settings(keyring=keyring))


def test_unknown_storage_is_a_configuration_error(keyring: Keyring) -> None:
    with pytest.raises(ConfigurationError, match="storage"):
        SessionProtocol(Settings(keyring=keyring), storage="disk")  # type: ignore[arg-type]


def test_check_seconds_names_the_setting_and_bounds_zero() -> None:
    from satchel import check_seconds

    assert check_seconds("timeout", 2) == 2.0
    assert check_seconds("timeout", 0, zero_allowed=True) == 0.0
    for bad in (0, -1, float("nan"), float("inf"), True, "5"):
        with pytest.raises(ConfigurationError, match=r"^timeout: "):
            check_seconds("timeout", bad)


def test_check_count_names_the_setting_and_its_minimum() -> None:
    from satchel import check_count

    assert check_count("batch_size", 1) == 1
    assert check_count("min_size", 0, minimum=0) == 0
    for bad in (0, -1, 1.0, True, "5", None):
        with pytest.raises(ConfigurationError, match=r"^batch_size: must be a positive integer"):
            check_count("batch_size", bad)
    with pytest.raises(ConfigurationError, match=r"^min_size: must be an integer >= 0, got -1"):
        check_count("min_size", -1, minimum=0)
