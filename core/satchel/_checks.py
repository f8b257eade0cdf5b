"""Checks shared by the settings objects of the core, adapters and drivers."""

from __future__ import annotations

import math

from ._errors import ConfigurationError

__all__ = ["check_seconds"]


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
