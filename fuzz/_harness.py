"""Running a target under atheris, and turning fuzzer bytes into text."""

from __future__ import annotations

import gc
import sys
import types
from collections.abc import Callable

__all__ = ["fuzz", "text"]


def text(data: bytes, *, wide: bool = False) -> str:
    """`data` as header text: ISO-8859-1 (as WSGI and ASGI servers decode
    headers), or UTF-8 with undecodable bytes kept as lone surrogates.
    """
    if wide:
        return data.decode("utf-8", "surrogateescape")
    return data.decode("latin-1")


def _instrument_loaded(prefixes: tuple[str, ...]) -> None:
    # atheris.instrument_all() would also rewrite every stdlib and third-party
    # function (about 20 s at start-up); only satchel's code and the
    # targets' own branches are worth coverage feedback.
    import atheris  # type: ignore[import-untyped]

    for obj in gc.get_objects():
        if (
            isinstance(obj, types.FunctionType)
            and isinstance(getattr(obj, "__module__", None), str)
            and obj.__module__.startswith(prefixes)
        ):
            atheris.instrument_func(obj)


def fuzz(check: Callable[[bytes], None], *, instrument: tuple[str, ...] = ("satchel",)) -> None:
    """Hand `check` to libFuzzer with the command line's libFuzzer flags.

    Coverage is traced in the modules whose names start with one of
    `instrument`; a target adds its own module when its input decoding has
    branches worth exploring.
    """
    import atheris

    _instrument_loaded(instrument)
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()
