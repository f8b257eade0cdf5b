"""`setup` refuses a bad configuration at start-up, naming the bad argument."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

import satchel_aiohttp
from satchel import AsyncMemoryStore, ConfigurationError, MemoryStore, Settings, SQLiteStore


def setup(settings: Settings, **options: Any) -> web.Application:
    app = web.Application()
    satchel_aiohttp.setup(app, settings, **options)
    return app


def test_a_synchronous_store_is_refused(web_settings: Settings, tmp_path: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"^store: .*MemoryStore"):
        setup(web_settings, store=MemoryStore())
    with (
        SQLiteStore(tmp_path / "s.sqlite3") as sqlite,
        pytest.raises(ConfigurationError, match=r"^store: "),
    ):
        setup(web_settings, store=sqlite)
    with pytest.raises(ConfigurationError, match=r"^store: "):
        setup(web_settings, store=object())


@pytest.mark.parametrize("interval", [0, -1, float("nan"), float("inf"), True, "60"])
def test_a_bad_sweep_interval_is_refused(web_settings: Settings, interval: object) -> None:
    with pytest.raises(ConfigurationError, match=r"^sweep_interval: "):
        setup(web_settings, store=AsyncMemoryStore(), sweep_interval=interval)


@pytest.mark.parametrize("location", ["", "/x\r\nSet-Cookie: a=b", "/\x00", 7])
def test_a_bad_timeout_location_is_refused(web_settings: Settings, location: object) -> None:
    with pytest.raises(ConfigurationError, match=r"^timeout_location: "):
        setup(web_settings, timeout_location=location)


@pytest.mark.parametrize("name", ["clock", "on_timeout", "on_store_error"])
def test_a_hook_that_is_not_callable_is_refused(web_settings: Settings, name: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"^{name}: "):
        setup(web_settings, **{name: "not callable"})


def test_settings_must_be_settings() -> None:
    with pytest.raises(ConfigurationError, match=r"^settings: "):
        setup({"secure": False})  # type: ignore[arg-type]


def test_setup_twice_on_one_app_is_refused(web_settings: Settings) -> None:
    app = setup(web_settings)
    with pytest.raises(ConfigurationError, match=r"already"):
        satchel_aiohttp.setup(app, web_settings)


def test_valid_setups_are_accepted(web_settings: Settings) -> None:
    setup(web_settings)
    setup(web_settings, store=AsyncMemoryStore(), sweep_interval=None)
    setup(web_settings, store=AsyncMemoryStore(), sweep_interval=5, timeout_location="/in?x=1")
