"""examples/flask_app.py, which the docs include verbatim, runs and serves real requests."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from types import ModuleType

import pytest

import satchel
from satchel.testing import HttpClient
from tests.install_helpers import ROOT

from .helpers import serving


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    # The example reads its secret from the environment, as the docs advise.
    monkeypatch.setenv("SATCHEL_SECRET", satchel.generate_secret())
    spec = importlib.util.spec_from_file_location("flask_app", ROOT / "examples" / "flask_app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    module.sessions.close()


def test_the_example_logs_in_counts_and_logs_out(example: ModuleType) -> None:
    with serving(example.app) as url:
        client = HttpClient(url)
        assert client.get("/counter").text == "Anonymous has visited 1 time(s)"
        login = client.get("/login/ada")
        assert login.text == "Logged in as ada"
        found = login.set_cookie("session")
        assert found is not None
        assert "secure" in found[1]  # the example keeps the production default
        assert client.get("/counter").text == "ada has visited 2 time(s)"
        logout = client.get("/logout")
        assert logout.status == 302
        assert client.get("/counter").text == "You are logged out. Anonymous has visited 1 time(s)"
        health = client.get("/health")
        assert health.text == "ok"
        assert health.header("Set-Cookie") == []
        assert client.get("/elsewhere").status == 404
