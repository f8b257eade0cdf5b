from __future__ import annotations

from typing import Any

import pytest

from satchel import (
    AdapterOptions,
    AsyncMemoryStore,
    ConfigurationError,
    Keyring,
    MemoryStore,
    Settings,
    session_timed_out,
)
from satchel.testing import Browser, ManualClock

from ..conftest import SECRET


def options(**overrides: Any) -> AdapterOptions[Any]:
    arguments: dict[str, Any] = {
        "settings": Settings(keyring=Keyring([SECRET])),
        "store": None,
        "flavour": "sync",
        "framework": "Test",
    }
    arguments.update(overrides)
    return AdapterOptions(**arguments)


def test_no_store_means_cookie_storage_and_no_sweep() -> None:
    built = options()
    assert built.protocol.storage == "cookie"
    assert built.sweep is None


def test_a_store_with_sweep_is_swept_unless_the_interval_is_none() -> None:
    store = MemoryStore()
    built = options(store=store, sweep_interval=5)
    assert built.protocol.storage == "server"
    assert built.sweep == store.sweep
    assert built.sweep_interval == 5.0
    assert options(store=store, sweep_interval=None).sweep is None


@pytest.mark.parametrize(
    ("overrides", "option"),
    [
        ({"settings": "not settings"}, "settings"),
        ({"store": object()}, "store"),
        ({"store": AsyncMemoryStore(), "flavour": "sync"}, "store"),
        ({"store": MemoryStore(), "flavour": "async"}, "store"),
        ({"clock": 5}, "clock"),
        ({"on_timeout": "/login"}, "on_timeout"),
        ({"on_store_error": 503}, "on_store_error"),
        ({"timeout_location": ""}, "timeout_location"),
        ({"timeout_location": "/a b"}, "timeout_location"),
        ({"timeout_location": "/\r\nSet-Cookie: x=1"}, "timeout_location"),
        ({"sweep_interval": 0}, "sweep_interval"),
        ({"sweep_interval": float("nan")}, "sweep_interval"),
        ({"sweep_interval": True}, "sweep_interval"),
    ],
)
def test_bad_options_name_the_option(overrides: dict[str, Any], option: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        options(**overrides)
    assert str(info.value).startswith(f"{option}:")


def test_flavour_errors_say_which_flavour_is_needed() -> None:
    with pytest.raises(ConfigurationError, match="Test needs an asynchronous store"):
        options(store=MemoryStore(), flavour="async")
    with pytest.raises(ConfigurationError, match="Test needs the synchronous flavour"):
        options(store=AsyncMemoryStore(), flavour="sync")


def test_session_timed_out_only_for_idle_and_absolute() -> None:
    clock = ManualClock()
    built = options(settings=Settings(keyring=Keyring([SECRET]), idle_timeout=60, touch_interval=6))
    browser = Browser(built.protocol, clock)
    browser.request(lambda session: session.__setitem__("user", "ada"))
    assert browser.request(session_timed_out).value is False
    clock.advance(60)
    assert browser.request(session_timed_out).value is True
    browser.set("session", "tampered")
    assert browser.request(session_timed_out).value is False
