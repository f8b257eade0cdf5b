"""Evaluate a guide's Python code blocks, in order, as one program (with Sybil)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser

DOCS = Path(__file__).resolve().parents[2] / "docs"


def run_guide(name: str) -> dict[str, Any]:
    """Run every ``python`` block of ``docs/<name>`` in order; the namespace
    they share. A failing block raises, naming its line in the guide.
    """
    sybil = Sybil(
        parsers=[PythonCodeBlockParser(future_imports=["annotations"])],
        path=str(DOCS),
        patterns=[name],
    )
    document = sybil.parse(DOCS / name)
    for example in document.examples():
        example.evaluate()
    namespace: dict[str, Any] = document.namespace
    return namespace
