"""Stores that can be broken and mended on demand, for store-failure tests."""

from __future__ import annotations

import inspect
from typing import Any, final

from .._errors import StoreError
from .._ops import AsyncStore, Op, Result, Store

__all__ = ["AsyncSwitchableStore", "SwitchableStore"]


class _Switch:
    __slots__ = ("_broken", "store")

    def __init__(self, store: Any) -> None:
        self.store = store
        self._broken = False

    def __repr__(self) -> str:
        state = "broken" if self._broken else "working"
        return f"{type(self).__name__}({self.store!r}, {state})"

    def __getattr__(self, name: str) -> Any:
        # close, aclose and anything else the wrapped store has.
        if name in _Switch.__slots__:
            raise AttributeError(name)
        return getattr(self.store, name)

    @property
    def broken(self) -> bool:
        """True between `break_down` and `mend`."""
        return self._broken

    def break_down(self) -> None:
        """Fail every operation (and sweep) with `satchel.StoreError` from now on."""
        self._broken = True

    def mend(self) -> None:
        """Pass operations to the wrapped store again."""
        self._broken = False

    def _check(self) -> None:
        if self._broken:
            raise StoreError(f"{type(self).__name__}: the store is broken (on purpose)")


@final
class SwitchableStore(_Switch):
    """A synchronous store that fails on demand: `break_down`, then `mend`.

    While broken, ``execute`` (and ``sweep``, when the wrapped store has one)
    raise `satchel.StoreError`, as a driver does when its server is gone; the
    wrapped store keeps its records, so a mended store serves them again.
    Anything else (``close``...) is the wrapped store's. Give
    `LiveServer` its ``break_down`` and ``mend`` as ``break_store`` and
    ``mend_store``.

    Args:
        store: the store to wrap.

    """

    __slots__ = ("sweep",)

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        inner = getattr(store, "sweep", None)

        def sweep(now: float) -> object:
            self._check()
            assert inner is not None
            return inner(now)

        self.sweep = sweep if callable(inner) else None
        """The wrapped store's ``sweep``, failing while broken; ``None`` without one."""

    def execute(self, op: Op) -> Result:
        """Run `op` on the wrapped store, or raise `satchel.StoreError` while broken."""
        self._check()
        result: Result = self.store.execute(op)
        return result


@final
class AsyncSwitchableStore(_Switch):
    """The asynchronous flavour of `SwitchableStore`.

    Args:
        store: the asynchronous store to wrap.

    """

    __slots__ = ("sweep",)

    def __init__(self, store: AsyncStore) -> None:
        super().__init__(store)
        inner = getattr(store, "sweep", None)

        async def sweep(now: float) -> object:
            self._check()
            assert inner is not None
            removed = inner(now)
            return await removed if inspect.isawaitable(removed) else removed

        self.sweep = sweep if callable(inner) else None
        """The wrapped store's ``sweep``, failing while broken; ``None`` without one."""

    async def execute(self, op: Op) -> Result:
        """Run `op` on the wrapped store, or raise `satchel.StoreError` while broken."""
        self._check()
        result: Result = await self.store.execute(op)
        return result
