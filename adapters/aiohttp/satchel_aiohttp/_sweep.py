"""The periodic sweep of stores that keep expired records until swept."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from satchel import AsyncSessionRuntime, SweepTask

__all__ = ["TASK_NAME", "sweep_context"]

TASK_NAME = "satchel-aiohttp-sweep"


def sweep_context(
    runtime: AsyncSessionRuntime, interval: float
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` entry: sweep every `interval` seconds while the app runs."""

    async def satchel_sweep(app: web.Application) -> AsyncIterator[None]:
        task = SweepTask(runtime, interval, name=TASK_NAME)
        task.start()
        try:
            yield
        finally:
            await task.stop()

    return satchel_sweep
