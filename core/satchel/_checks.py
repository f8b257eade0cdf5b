"""Checks shared by the settings objects of the core, adapters and drivers."""

from __future__ import annotations

import math

from ._errors import ConfigurationError

__all__ = ["check_count", "check_seconds"]


def check_seconds(name: str, value: object, *, zero_allowed: bool = False) -> float:
    """`value` as a float if it is a finite number of seconds above zero (or
    zero too, with `zero_allowed`).

    Raises:
        ConfigurationError: naming the setting `name`.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not zero_allowed)
    ):
        bound = ">= 0" if zero_allowed else "> 0"
        raise ConfigurationError(
            f"{name}: must be a finite number of seconds {bound}, got {value!r}"
        )
    return float(value)


def check_count(name: str, value: object, *, minimum: int = 1) -> int:
    """`value` if it is an integer (not a bool) of at least `minimum`.

    Raises:
        ConfigurationError: naming the setting `name`.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        bound = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ConfigurationError(f"{name}: must be {bound}, got {value!r}")
    return value
