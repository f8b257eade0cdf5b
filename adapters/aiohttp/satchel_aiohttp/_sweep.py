"""The periodic sweep of stores that keep expired records until swept."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from satchel import StoreError

from ._middleware import LOGGER

__all__ = ["TASK_NAME", "sweep_context"]

TASK_NAME = "satchel-aiohttp-sweep"


async def _sweep_forever(
    sweep: Callable[[float], object], clock: Callable[[], float], interval: float
) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            removed = sweep(clock())
            if inspect.isawaitable(removed):
                removed = await removed
        except StoreError as error:
            # A store that is down now may be back by the next round.
            LOGGER.error("session sweep failed: %s: %s", type(error).__name__, error)
        except Exception:
            LOGGER.exception("session sweep failed")
        else:
            if removed:
                LOGGER.debug("session sweep removed %s expired sessions", removed)


def sweep_context(
    sweep: Callable[[float], object], clock: Callable[[], float], interval: float
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` entry: sweep every `interval` seconds while the app runs."""

    async def satchel_sweep(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(
            _sweep_forever(sweep, clock, interval), name=TASK_NAME
        )
        try:
            yield
        finally:
            task.cancel()
            # wait() neither raises the task's CancelledError nor leaves it pending.
            await asyncio.wait((task,))

    return satchel_sweep
