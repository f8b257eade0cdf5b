"""Real memory stores with one behaviour added, shared by the adapters' tests.

`CountingStore` records every operation it runs. The outraced stores' updates
always lose a race to a writer in another process: every compare-and-set of
an existing session answers `Conflict`, as if another process always saved
first, so the adapters' tests reach the conflict deadline without a second
server.
"""

from __future__ import annotations

from satchel import AsyncMemoryStore, Conflict, MemoryStore, Op, Result, Save


class CountingStore:
    """A real `MemoryStore` that records the name of every operation it runs."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.ops: list[str] = []

    def execute(self, op: Op) -> Result:
        self.ops.append(type(op).__name__)
        return self.inner.execute(op)

    def __len__(self) -> int:
        return len(self.inner)


def _outraced(op: Op) -> bool:
    return isinstance(op, Save) and op.expected_revision is not None


class OutracedStore:
    """The synchronous flavour."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.conflicts = 0

    def execute(self, op: Op) -> Result:
        if _outraced(op):
            self.conflicts += 1
            return Conflict()
        return self.inner.execute(op)


class AsyncOutracedStore:
    """The asynchronous flavour."""

    def __init__(self) -> None:
        self.inner = AsyncMemoryStore()
        self.conflicts = 0

    async def execute(self, op: Op) -> Result:
        if _outraced(op):
            self.conflicts += 1
            return Conflict()
        return await self.inner.execute(op)
