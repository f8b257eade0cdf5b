"""Small test stores: real stores with one behaviour switched on.

Each wraps a real `AsyncMemoryStore` (or none) and adds what a test needs to
observe or provoke: a failure, a count of operations, requests held at a
barrier. None imitates a server.
"""

from __future__ import annotations

import asyncio
from typing import Any

from satchel import AsyncMemoryStore, Load, Op, Result, StoreError


class FailingStore:
    """A store whose backend is unreachable: every operation fails."""

    def __init__(self) -> None:
        self.calls = 0

    async def execute(self, op: Op) -> Result:
        self.calls += 1
        raise StoreError("connection refused by the session backend")


class SwitchableStore:
    """A memory store that records every operation and can be made to fail."""

    def __init__(self) -> None:
        self.inner = AsyncMemoryStore()
        self.ops: list[str] = []
        self.broken = False

    def __len__(self) -> int:
        return len(self.inner)

    async def execute(self, op: Op) -> Result:
        self.ops.append(type(op).__name__)
        if self.broken:
            raise StoreError("connection refused by the session backend")
        return await self.inner.execute(op)

    async def sweep(self, now: float) -> int:
        return await self.inner.sweep(now)


class GatedStore:
    """A memory store whose first `parties` loads wait for one another, so
    that many requests load the same revision and their saves must merge."""

    def __init__(self, parties: int) -> None:
        self.inner = AsyncMemoryStore()
        self.parties = parties
        self.waiting = 0
        self.gate: asyncio.Event | None = None
        self.armed = False

    async def execute(self, op: Op) -> Result:
        if self.armed and isinstance(op, Load):
            if self.gate is None:
                self.gate = asyncio.Event()
            self.waiting += 1
            if self.waiting >= self.parties:
                self.armed = False
                self.gate.set()
            # Bounded: a test never hangs if fewer requests arrive.
            await asyncio.wait_for(self.gate.wait(), timeout=5)
        return await self.inner.execute(op)


class SweepFailingStore:
    """A memory store whose sweeps fail (its backend is gone for sweeps)."""

    def __init__(self) -> None:
        self.inner = AsyncMemoryStore()
        self.sweeps = 0

    async def execute(self, op: Op) -> Result:
        return await self.inner.execute(op)

    async def sweep(self, now: float) -> Any:
        self.sweeps += 1
        raise StoreError("sweep failed: the session backend is read-only")
