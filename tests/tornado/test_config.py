"""SessionConfig refuses a bad configuration at start-up, naming the setting."""

from __future__ import annotations

from typing import Any

import pytest
import tornado.web

from satchel import AsyncMemoryStore, ConfigurationError, MemoryStore, SQLiteStore
from satchel.testing import HttpClient
from satchel_tornado import SETTINGS_KEY, SessionConfig

from ._app import Probe, make_app
from ._live import adapter_settings, app_runner, serving


def test_an_object_that_is_no_store_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"^store: .*execute"):
        SessionConfig(adapter_settings(), store=object())  # type: ignore[arg-type]


def test_a_synchronous_store_is_refused(tmp_path: Any) -> None:
    settings = adapter_settings()
    for store in (MemoryStore(), SQLiteStore(tmp_path / "s.sqlite3")):
        with pytest.raises(ConfigurationError, match=r"^store: .*asynchronous"):
            SessionConfig(settings, store=store)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "setting"),
    [
        ({"sweep_interval": 0}, "sweep_interval"),
        ({"sweep_interval": float("nan")}, "sweep_interval"),
        ({"sweep_interval": True}, "sweep_interval"),
        ({"timeout_location": "/\r\nSet-Cookie: x=1"}, "timeout_location"),
        ({"timeout_location": ""}, "timeout_location"),
        ({"clock": 12.0}, "clock"),
        ({"on_timeout": "/login"}, "on_timeout"),
        ({"on_store_error": 503}, "on_store_error"),
    ],
)
def test_a_bad_setting_is_named(options: dict[str, Any], setting: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{setting}: "):
        SessionConfig(adapter_settings(), store=AsyncMemoryStore(), **options)


def test_settings_must_be_satchel_settings() -> None:
    with pytest.raises(ConfigurationError, match=r"^settings: "):
        SessionConfig({"secret": "x"})  # type: ignore[arg-type]


def test_the_storage_follows_the_store() -> None:
    settings = adapter_settings()
    assert SessionConfig(settings).protocol.storage == "cookie"
    assert SessionConfig(settings, store=AsyncMemoryStore()).protocol.storage == "server"
    assert SETTINGS_KEY == "satchel"


def test_a_handler_without_the_application_setting_is_a_server_error() -> None:
    config = SessionConfig(adapter_settings())
    app = make_app(config, Probe())
    app.settings.pop(SETTINGS_KEY)
    with serving(app_runner(app)) as url:
        assert HttpClient(url).get("/plain").status == 200  # never asks: never needs it
        response = HttpClient(url).get("/get")
    assert response.status == 500
    assert isinstance(app, tornado.web.Application)
