"""The documentation agrees with the code it describes."""

from __future__ import annotations

import ast
import importlib
import inspect
import itertools
import re
import types
from pathlib import Path

import pytest

import satchel
import satchel.testing
from satchel._state import Event, State, mermaid_diagram

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "core" / "satchel"

START_MARKER = "<!-- diagram:start -->"
END_MARKER = "<!-- diagram:end -->"
REGENERATE = (
    "docs/state-diagram.md has drifted from satchel._state.TRANSITIONS. Replace "
    f"the block between {START_MARKER} and {END_MARKER} (keep the ```mermaid "
    "fence) with the output of:\n"
    '    .venv/bin/python -c "from satchel._state import mermaid_diagram; '
    "print(mermaid_diagram(), end='')\""
)


def committed_diagram() -> str:
    """The Mermaid source between the markers, inside its fence."""
    text = (DOCS / "state-diagram.md").read_text(encoding="utf-8")
    assert text.count(START_MARKER) == 1, f"expected one {START_MARKER}"
    assert text.count(END_MARKER) == 1, f"expected one {END_MARKER}"
    block = text.split(START_MARKER, 1)[1].split(END_MARKER, 1)[0]
    lines = block.strip("\n").split("\n")
    assert lines[0] == "```mermaid", f"the block must open with ```mermaid\n{REGENERATE}"
    assert lines[-1] == "```", f"the block must close with ```\n{REGENERATE}"
    return "".join(line + "\n" for line in lines[1:-1])


def test_state_diagram_matches_the_transition_table() -> None:
    assert committed_diagram() == mermaid_diagram(), REGENERATE


def test_state_diagram_names_every_state_and_event() -> None:
    diagram = mermaid_diagram()
    states = set(re.findall(r"\b[A-Z]+\b", diagram))
    labels = {line.rsplit(": ", 1)[1] for line in diagram.splitlines() if ": " in line}
    for state in State:
        assert state.name in states, f"State.{state.name} is missing from the diagram"
    for event in Event:
        assert event.value in labels, f"Event.{event.name} is missing from the diagram"


def attribute_docstrings(module: types.ModuleType) -> dict[str, str]:
    """Docstrings written as a string right after a module-level assignment."""
    source = inspect.getsource(module)
    docs: dict[str, str] = {}
    body = ast.parse(source).body
    for statement, following in itertools.pairwise(body):
        if isinstance(statement, ast.Assign):
            targets = statement.targets
        elif isinstance(statement, ast.AnnAssign):
            targets = [statement.target]
        else:
            continue
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            for target in targets:
                if isinstance(target, ast.Name):
                    docs[target.id] = following.value.value
    return docs


def private_modules() -> list[types.ModuleType]:
    """Every module of the core, where public names are defined."""
    names = [f"satchel.{path.stem}" for path in PACKAGE.glob("_*.py")]
    names += [f"satchel.testing.{path.stem}" for path in (PACKAGE / "testing").glob("_*.py")]
    return [importlib.import_module(name) for name in sorted(names) if "__" not in name]


def docstring_of(name: str, value: object) -> str | None:
    """The docstring of a public name, or None if it has none of its own."""
    if inspect.isclass(value) or inspect.isfunction(value) or inspect.ismodule(value):
        # `__doc__` itself, not inspect.getdoc: a class with no docstring of
        # its own must not pass on the strength of its base class's.
        return value.__doc__
    # Type aliases and constants cannot carry `__doc__`; their docstring is
    # the string literal after the assignment, as the API reference reads it.
    for module in private_modules():
        if getattr(module, name, None) is value:
            doc = attribute_docstrings(module).get(name)
            if doc is not None:
                return doc
    return None


@pytest.mark.parametrize(
    ("module", "name"),
    [(satchel, name) for name in satchel.__all__]
    + [(satchel.testing, name) for name in satchel.testing.__all__],
)
def test_every_public_name_has_a_docstring(module: types.ModuleType, name: str) -> None:
    value = getattr(module, name)
    doc = docstring_of(name, value)
    assert doc is not None, f"{module.__name__}.{name} has no docstring"
    assert doc.strip(), f"{module.__name__}.{name} has an empty docstring"


def python_blocks(page: str) -> list[str]:
    """The ```python code blocks of a docs page, in order."""
    text = (DOCS / page).read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("page", ["index.md", "testing.md"])
def test_page_examples_run(page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The examples read their secret from the environment, as they advise.
    monkeypatch.setenv("SATCHEL_SECRET", satchel.generate_secret())
    blocks = python_blocks(page)
    assert blocks, f"docs/{page} has no python examples"
    namespace: dict[str, object] = {"__name__": f"docs_{page.replace('.', '_')}"}
    for block in blocks:
        exec(compile(block, f"docs/{page}", "exec"), namespace)
    # Example tests written as pytest functions are run too.
    for name, value in list(namespace.items()):
        if name.startswith("test_") and callable(value):
            value()
