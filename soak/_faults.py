"""Faults injected under load, and what the answers around them must show.

An *outage* cuts the store off for a while and then restores it (a Redis
killed and restarted, PostgreSQL behind a proxy that stops listening); a
*blip* is a fault with no duration (PostgreSQL backends terminated). Around
either, every answer must be a 200 or a 503 (never a 500, never no answer),
none may take longer than the store's timeout plus a margin, every answer
that needed the store and started and ended inside an outage must be a 503, and answers must be
200 again within `recovery_limit` seconds of the store coming back, with the
same server process still running.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import attrs

from ._load import Answer, Load, statuses

__all__ = ["FaultFigures", "blip", "outage", "recovery_seconds"]

# Answers other than these during a fault fail it: 503 is the store-failure
# answer; 200 is fine while the store is up.
_ALLOWED = frozenset({200, 503})


@attrs.frozen
class FaultFigures:
    """What one fault did to the answers around it.

    Attributes:
        name: the fault.
        outage: seconds the store was cut off (0 for a blip).
        during: statuses of the answers that started and ended inside the
            outage and needed the store (see `Answer.needs_store`).
        storeless: answers inside the outage that needed no store (cookieless
            reads), which may well be 200.
        window: statuses of every answer from the fault to the end of observation.
        longest: the longest answer time in the window, in seconds.
        limit: the longest answer time allowed.
        recovery: seconds from the store's return until answers were 200 for
            good, or None if they never were.
        recovery_limit: the recovery time allowed.
        detail: what was done (e.g. how many backends were terminated).

    """

    name: str
    outage: float
    during: Counter[int]
    storeless: Counter[int]
    window: Counter[int]
    longest: float
    limit: float
    recovery: float | None
    recovery_limit: float
    detail: str = ""
    samples: tuple[Answer, ...] = ()

    def problems(self) -> list[str]:
        """Every check this fault failed, in words (empty if it passed)."""
        found = []
        unexpected = {status: n for status, n in self.window.items() if status not in _ALLOWED}
        if unexpected:
            found.append(f"{self.name}: answers other than 200/503: {unexpected}")
        if self.outage > 0:
            if not self.during:
                found.append(f"{self.name}: no answer started and ended inside the outage")
            elif set(self.during) != {503}:
                found.append(f"{self.name}: answers inside the outage were {dict(self.during)}")
        if self.longest > self.limit:
            found.append(f"{self.name}: an answer took {self.longest:.2f} s > {self.limit:.2f} s")
        if self.recovery is None:
            found.append(f"{self.name}: answers were not 200 again")
        elif self.recovery > self.recovery_limit:
            found.append(
                f"{self.name}: 200 again only {self.recovery:.2f} s after the store came back "
                f"(limit {self.recovery_limit:.2f} s)"
            )
        return found


def recovery_seconds(answers: list[Answer], since: float, streak: float) -> float | None:
    """Seconds from `since` to the start of the final run of 200 answers, if
    that run already spans `streak` seconds of request starts; else None.
    """
    after = sorted((a for a in answers if a.start >= since), key=lambda a: a.start)
    if not after:
        return None
    last_bad = max((i for i, a in enumerate(after) if a.status != 200), default=-1)
    good = after[last_bad + 1 :]
    if not good or good[-1].start - good[0].start < streak:
        return None
    return 0.0 if last_bad < 0 else good[0].start - since


async def _await_recovery(
    load: Load, first: int, since: float, streak: float, give_up: float
) -> float | None:
    deadline = since + give_up
    while True:
        recovery = recovery_seconds(load.answers[first:], since, streak)
        if recovery is not None or time.monotonic() >= deadline:
            return recovery
        await asyncio.sleep(0.1)


def _figures(
    load: Load,
    first: int,
    name: str,
    cut_at: float,
    back_at: float,
    limit: float,
    recovery: float | None,
    recovery_limit: float,
    detail: str,
) -> FaultFigures:
    window = load.answers[first:]
    inside = [a for a in window if a.start >= cut_at and a.end <= back_at]
    during = [a for a in inside if a.needs_store]
    odd = tuple(a for a in window if a.status not in _ALLOWED)[:5]
    sample = next((a for a in during if a.status == 503), None)
    return FaultFigures(
        name=name,
        outage=back_at - cut_at,
        during=statuses(during),
        storeless=statuses(a for a in inside if not a.needs_store),
        window=statuses(window),
        longest=max((a.seconds for a in window), default=0.0),
        limit=limit,
        recovery=recovery,
        recovery_limit=recovery_limit,
        detail=detail,
        samples=(*odd, *((sample,) if sample is not None else ())),
    )


async def outage(
    load: Load,
    name: str,
    *,
    cut: Callable[[], object],
    restore: Callable[[], object],
    seconds: float,
    limit: float,
    recovery_limit: float = 5.0,
    streak: float = 1.0,
) -> FaultFigures:
    """Cut the store off with `cut`, wait `seconds`, `restore` it, and watch
    the running `load`'s answers until they are 200 again for `streak`
    seconds (at most `recovery_limit` + `streak` + 5 seconds).
    """
    first = len(load.answers)
    await asyncio.to_thread(cut)
    cut_at = time.monotonic()
    await asyncio.sleep(seconds)
    back_at = time.monotonic()
    await asyncio.to_thread(restore)
    recovery = await _await_recovery(
        load, first, back_at, streak, recovery_limit + streak + 5.0 + (time.monotonic() - back_at)
    )
    return _figures(load, first, name, cut_at, back_at, limit, recovery, recovery_limit, "")


async def blip(
    load: Load,
    name: str,
    *,
    fault: Callable[[], str],
    limit: float,
    recovery_limit: float = 5.0,
    streak: float = 1.0,
    observe: float = 2.0,
) -> FaultFigures:
    """Inject `fault` (it returns a word on what it did) and watch the
    running `load` for at least `observe` seconds and until answers are 200
    again for `streak` seconds.
    """
    first = len(load.answers)
    detail = await asyncio.to_thread(fault)
    at = time.monotonic()
    await asyncio.sleep(observe)
    recovery = await _await_recovery(load, first, at, streak, recovery_limit + streak + 5.0)
    return _figures(load, first, name, at, at, limit, recovery, recovery_limit, detail)
