"""The periodic sweep of stores that keep expired records until swept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from satchel import AsyncSessionRuntime

__all__ = ["TASK_NAME", "sweep_context"]

TASK_NAME = "satchel-aiohttp-sweep"


async def _sweep_forever(runtime: AsyncSessionRuntime, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        await runtime.sweep_once()  # logs a failure; the next round tries again


def sweep_context(
    runtime: AsyncSessionRuntime, interval: float
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` entry: sweep every `interval` seconds while the app runs."""

    async def satchel_sweep(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(
            _sweep_forever(runtime, interval), name=TASK_NAME
        )
        try:
            yield
        finally:
            task.cancel()
            # wait() neither raises the task's CancelledError nor leaves it pending.
            await asyncio.wait((task,))

    return satchel_sweep
