from __future__ import annotations

import pytest

from satchel import Keyring, SessionProtocol, Settings
from satchel.testing import Browser, ManualClock, parse_set_cookie

from ..conftest import SECRET


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(100.0)
    assert clock() == clock.now == 100.0
    assert clock.advance(5) == 105.0
    clock.advance(-10)
    assert clock() == 95.0
    clock.set(7)
    assert clock() == 7.0
    with pytest.raises(ValueError, match="finite"):
        clock.set(float("nan"))


def test_browser_honours_max_age_on_the_manual_clock() -> None:
    clock = ManualClock()
    protocol = SessionProtocol(Settings(keyring=Keyring([SECRET])))
    browser = Browser(protocol, clock)
    browser.receive(["a=1; Max-Age=10", "b=2", "c=3; Expires=Thu, 01 Jan 1970 00:00:00 GMT"])
    assert browser.cookies == {"a": "1", "b": "2"}
    clock.advance(9.999)
    assert "a" in browser.cookies
    clock.advance(0.001)
    assert browser.cookies == {"b": "2"}
    browser.receive(["b=; Max-Age=0"])
    assert browser.cookie_header() is None


def test_browser_sends_what_it_keeps_and_records_ops() -> None:
    clock = ManualClock()
    protocol = SessionProtocol(Settings(keyring=Keyring([SECRET])))
    browser = Browser(protocol, clock)
    response = browser.request(lambda session: session.__setitem__("k", "v"))
    assert response.ops == ()
    assert browser.cookie_header() == f"session={browser.cookies['session']}"


def test_server_storage_browser_needs_a_store() -> None:
    protocol = SessionProtocol(Settings(keyring=Keyring([SECRET])), storage="server")
    with pytest.raises(ValueError, match="store"):
        Browser(protocol, ManualClock())


def test_parse_set_cookie_splits_attributes() -> None:
    assert parse_set_cookie("n=v; Path=/; Secure; SameSite=Lax") == (
        "n",
        "v",
        {"path": "/", "secure": "", "samesite": "Lax"},
    )
