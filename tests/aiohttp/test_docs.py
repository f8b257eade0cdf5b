"""The aiohttp docs page runs as written and covers the whole public API."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

import satchel
import satchel_aiohttp
from satchel.testing import HttpClient

from ._server import LiveApp

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "adapters" / "aiohttp.md"
MIGRATION = ROOT / "docs" / "migrating-from-aiohttp-session.md"
SNIPPET = '--8<-- "examples/aiohttp_app.py"'


def python_blocks(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def test_the_page_includes_the_example_file_verbatim() -> None:
    blocks = python_blocks(PAGE)
    assert [block.strip() for block in blocks if "--8<--" in block] == [SNIPPET]
    assert (ROOT / "examples" / "aiohttp_app.py").is_file()


@pytest.mark.parametrize("name", satchel_aiohttp.__all__)
def test_the_page_documents_every_public_name(name: str) -> None:
    assert f"`{name}" in PAGE.read_text(encoding="utf-8")


def test_the_page_examples_run_and_answer_over_http(
    monkeypatch: pytest.MonkeyPatch, serve: Callable[[web.Application], LiveApp]
) -> None:
    monkeypatch.setenv("SATCHEL_SECRET", satchel.generate_secret())
    namespace: dict[str, object] = {"__name__": "docs_adapters_aiohttp"}
    for block in python_blocks(PAGE):
        if "--8<--" not in block:
            exec(compile(block, str(PAGE), "exec"), namespace)
    app = namespace["app"]
    assert isinstance(app, web.Application)
    client = HttpClient(serve(app).base_url)
    assert client.get("/counter").text == "1"
    assert client.get("/counter").text == "2"
    login = client.get("/login/ada")
    assert (login.status, login.header("Location")) == (302, ["/"])
    assert client.get("/theme").text == "Theme: dark"
    assert client.get("/theme").text == "Theme: light"
    forget = client.get("/theme/forget").set_cookie("theme")
    assert forget is not None
    assert forget[1]["max-age"] == "0"
    report = client.get("/report")
    assert report.text == "one\ntwo\nthree\n"
    assert report.set_cookie("session") is not None
    logout = client.get("/logout")
    assert logout.status == 302
    assert "session" in client.cookies  # the flash started a new session


def test_the_migration_page_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_SECRET", satchel.generate_secret())
    blocks = python_blocks(MIGRATION)
    assert blocks
    namespace: dict[str, object] = {"__name__": "docs_migrating_from_aiohttp_session"}
    for block in blocks:
        exec(compile(block, str(MIGRATION), "exec"), namespace)
    assert isinstance(namespace["app"], web.Application)


def test_the_migration_page_maps_the_names_users_know() -> None:
    text = MIGRATION.read_text(encoding="utf-8")
    for name in (
        "get_session",
        "new_session",
        "EncryptedCookieStorage",
        "SimpleCookieStorage",
        "RedisStorage",
        "Keyring",
        "regenerate",
        "flash",
    ):
        assert name in text, name
