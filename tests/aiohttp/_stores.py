"""Small test stores: an in-memory store that counts its operations, and one
whose backend fails on demand. Both run the real `AsyncMemoryStore` underneath.
"""

from __future__ import annotations

import asyncio

from satchel import AsyncMemoryStore, Op, Result, StoreError


class CountingStore:
    """An `AsyncMemoryStore` that records the name of every op it runs.

    Each op yields to the event loop first, as a store across a network does,
    so other tasks can run while an op is in flight.
    """

    def __init__(self) -> None:
        self.inner = AsyncMemoryStore()
        self.ops: list[str] = []

    async def execute(self, op: Op) -> Result:
        self.ops.append(type(op).__name__)
        await asyncio.sleep(0)
        return await self.inner.execute(op)

    async def sweep(self, now: float) -> int:
        return await self.inner.sweep(now)


class FailingStore:
    """A store whose backend is down for the op kinds named in `failing`
    (``"Load"``, ``"Save"``, ``"Delete"``, ``"sweep"``)."""

    def __init__(self, *failing: str) -> None:
        self.inner = AsyncMemoryStore()
        self.failing = set(failing)

    async def execute(self, op: Op) -> Result:
        if type(op).__name__ in self.failing:
            raise StoreError("connection refused by the test backend")
        return await self.inner.execute(op)

    async def sweep(self, now: float) -> int:
        if "sweep" in self.failing:
            raise StoreError("connection refused by the test backend")
        return await self.inner.sweep(now)
