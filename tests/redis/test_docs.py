"""The Redis pages include real code, and their own examples are valid Python."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["docs/stores/redis.md", "docs/writing-a-store-driver.md"]
INCLUDE = re.compile(r'^--8<-- "(?P<path>[^":]+):(?P<section>[\w-]+)"$', re.MULTILINE)


def python_blocks(page: str) -> list[str]:
    text = (ROOT / page).read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("page", PAGES)
def test_every_included_section_exists_once(page: str) -> None:
    includes = INCLUDE.findall((ROOT / page).read_text(encoding="utf-8"))
    assert includes, f"{page} includes no code"
    for path, section in includes:
        source = (ROOT / path).read_text(encoding="utf-8")
        for marker in (f"--8<-- [start:{section}]", f"--8<-- [end:{section}]"):
            assert source.count(marker) == 1, f"{path} must hold {marker!r} exactly once"
        body = source.split(f"[start:{section}]", 1)[1].split(f"--8<-- [end:{section}]", 1)[0]
        assert body.strip(), f"{path}:{section} is empty"


@pytest.mark.parametrize("page", PAGES)
def test_examples_compile(page: str) -> None:
    examples = [block for block in python_blocks(page) if not INCLUDE.match(block.strip())]
    for block in examples:
        compile(block, page, "exec")
