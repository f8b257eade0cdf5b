"""docs/session-anywhere.md, tested: its code blocks run in order as one
program, each framework's example against a real server over HTTP.
"""

from __future__ import annotations

from ._guides import DOCS, run_guide

GUIDE = "session-anywhere.md"


def test_every_example_runs() -> None:
    namespace = run_guide(GUIDE)
    # The last block ran: every example before it served its requests.
    assert "outside of a request" in namespace["message"]


def test_there_is_an_example_for_every_framework() -> None:
    text = (DOCS / GUIDE).read_text(encoding="utf-8")
    for framework in ("aiohttp", "Tornado", "WSGI", "ASGI", "Flask"):
        assert f"\n### {framework}" in text
    assert "satchel_demo" not in text  # no private module of this repository
