"""Fixtures for the Flask adapter's tests: an app factory, stores and a clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from satchel.testing import ManualClock
from satchel_flask import Satchel

from .helpers import make_settings

MakeApp = Callable[..., tuple[Flask, Satchel]]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time())


@pytest.fixture
def make_app(clock: ManualClock) -> Iterator[MakeApp]:
    """A Flask app with `Satchel` installed (settings from `make_settings`,
    the test clock, no sweep unless asked); every extension is closed at teardown.
    """
    extensions: list[Satchel] = []

    def make(**options: Any) -> tuple[Flask, Satchel]:
        settings = options.pop("settings", None) or make_settings()
        options.setdefault("clock", clock)
        options.setdefault("sweep_interval", None)
        app = Flask("satchel_flask_tests")
        extension = Satchel(app, settings=settings, **options)
        extensions.append(extension)
        return app, extension

    yield make
    for extension in extensions:
        extension.close()
