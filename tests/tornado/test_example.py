"""examples/tornado_app.py, which the docs include verbatim, really serves."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from satchel.testing import HttpClient

from ._live import SECRET, app_runner, serving

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tornado_app.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tornado_app_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_logs_in_and_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_SECRET", SECRET)
    app = load_example().make_app()
    with serving(app_runner(app, sweep=True)) as url:
        client = HttpClient(url)
        assert client.get("/").text == "anonymous has visited 1 times"
        login = client.get("/login/ada")
        assert login.text == "Logged in as ada"
        cookie = login.set_cookie("session")
        assert cookie is not None
        assert "secure" in cookie[1]  # the example keeps the production default
        assert client.get("/").text == "ada has visited 2 times"
        assert HttpClient(url).get("/").text == "anonymous has visited 1 times"


def test_the_example_needs_its_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SATCHEL_SECRET", raising=False)
    with pytest.raises(KeyError, match="SATCHEL_SECRET"):
        load_example().make_app()
