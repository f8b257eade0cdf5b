"""docs/writing-an-adapter.md, tested: its code blocks run in order as one
program (the by-hand examples assert over real HTTP as they go), and the
conformance suite runs against the two adapters the guide writes.
"""

from __future__ import annotations

from satchel.testing import AdapterConformance

from ._guides import DOCS, run_guide

GUIDE = "writing-an-adapter.md"

# Evaluated at collection: the suites below are classes the guide defines.
_NAMESPACE = run_guide(GUIDE)
TestGuideWSGIAdapter: type[AdapterConformance] = _NAMESPACE["TestMyWSGIAdapter"]
TestGuideASGIAdapter: type[AdapterConformance] = _NAMESPACE["TestMyASGIAdapter"]


def test_the_guide_writes_both_adapters_and_their_suites() -> None:
    assert TestGuideWSGIAdapter.server_side
    assert TestGuideASGIAdapter.server_side
    assert TestGuideASGIAdapter.websockets


def test_the_guide_is_plain_markdown() -> None:
    text = (DOCS / GUIDE).read_text(encoding="utf-8")
    assert "--8<--" not in text  # no include markers: readable on the repository page
    assert "satchel_demo" not in text  # and no private module of this repository
    assert "make_settings" not in text
