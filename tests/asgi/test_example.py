"""The examples the docs include verbatim run, and answer over real HTTP."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import satchel
from satchel.testing import HttpClient

from ._server import LiveASGI

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ["asgi_app", "asgi_fastapi_app", "asgi_litestar_app"]


@pytest.fixture(params=EXAMPLES)
def example(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    monkeypatch.setenv("SATCHEL_SECRET", satchel.generate_secret())
    name = f"satchel_example_{request.param}"
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{request.param}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Litestar reads handler annotations from the module's namespace in sys.modules.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


def test_the_example_counts_visits_and_logs_in(example: ModuleType) -> None:
    live = LiveASGI(example.make_app())
    try:
        client = HttpClient(live.base_url)
        assert client.get("/").text == "Hello a guest, visit number 1"
        response = client.get("/login/ada")
        assert response.text == "Logged in as ada"
        assert response.set_cookie("session") is not None
        assert client.get("/").text == "Hello ada, visit number 2"
        assert HttpClient(live.base_url).get("/").text == "Hello a guest, visit number 1"
        if example.__name__.endswith("fastapi_app"):
            # The refusal is raised as HTTPException, and the session still counts it.
            stranger = HttpClient(live.base_url)
            assert stranger.get("/admin").status == 403
            assert stranger.get("/").text == "Hello a guest, visit number 1"
            assert client.get("/admin").text == "Welcome, ada"
    finally:
        live.stop()


def test_the_example_reads_its_secret_from_the_environment(
    example: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SATCHEL_SECRET")
    with pytest.raises(KeyError, match="SATCHEL_SECRET"):
        example.make_app()
