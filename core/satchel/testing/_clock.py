"""A clock that only moves when told to."""

from __future__ import annotations

import math
from typing import final

__all__ = ["ManualClock"]


@final
class ManualClock:
    """A callable clock for tests: ``clock()`` returns the current time.

    Every satchel API takes ``now`` as an argument, and the adapters take a
    clock callable, so timeouts are tested by moving this clock instead of
    sleeping. Time may be moved backwards, to test clocks that go back.

    Args:
        start: the initial time in POSIX seconds (defaults to a fixed instant,
            2026-01-01T00:00:00Z, so tests are reproducible).

    """

    __slots__ = ("_now",)

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self._now = self._checked(start)

    @staticmethod
    def _checked(value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"clock time must be finite, got {value!r}")
        return float(value)

    def __call__(self) -> float:
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self._now!r})"

    @property
    def now(self) -> float:
        """The current time."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock by `seconds` (negative moves it back); returns the new time."""
        self._now = self._checked(self._now + seconds)
        return self._now

    def set(self, when: float) -> None:
        """Set the clock to `when`."""
        self._now = self._checked(when)
