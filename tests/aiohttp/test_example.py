"""The example the docs include verbatim runs, and answers over real HTTP."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from aiohttp import web

import satchel
from satchel.testing import HttpClient

from ._server import LiveApp

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "aiohttp_app.py"


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.setenv("SATCHEL_SECRET", satchel.generate_secret())
    spec = importlib.util.spec_from_file_location("satchel_example_aiohttp_app", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_the_example_counts_visits_and_logs_in(
    example: ModuleType, serve: Callable[[web.Application], LiveApp]
) -> None:
    live = serve(example.make_app())
    client = HttpClient(live.base_url)
    assert client.get("/").text == "Hello a guest, visit number 1"
    response = client.get("/login/ada")
    assert response.text == "Logged in as ada"
    assert response.set_cookie("session") is not None
    assert client.get("/").text == "Hello ada, visit number 2"
    assert HttpClient(live.base_url).get("/").text == "Hello a guest, visit number 1"


def test_the_example_reads_its_secret_from_the_environment(
    example: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SATCHEL_SECRET")
    with pytest.raises(KeyError, match="SATCHEL_SECRET"):
        example.make_app()
