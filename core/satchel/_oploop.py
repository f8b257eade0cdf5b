"""The op loops: run an exchange's store ops, sync or async.

This is the only place where a store is called and where waiting happens.
Two rules keep concurrent requests of one session from failing each other:

- Within one process, the saves of one session take turns: a loop given
  `SaveLocks` (or `AsyncSaveLocks`) holds the session's lock, keyed by its
  store key (`Exchange.lock_key`), from its first save op to its last. The
  handler runs outside it, so a slow handler never holds anyone up. The first
  lost race of a turn is retried at once: nobody in this process can be
  saving the session meanwhile.
- Across processes, a save that loses again is retried after a jittered,
  exponentially growing pause ("full jitter"), and the whole save (its wait
  for the turn included) is bounded by ``Settings.conflict_deadline`` on a
  monotonic clock. Past it, the exchange gives up with `SessionConflict`.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Final, Generic, TypeVar, final

from ._errors import StoreError
from ._exchange import Exchange
from ._ops import AsyncStore, Conflict, Op, Result, Store, StoreFailed
from ._state import State

__all__ = [
    "BACKOFF_CAP",
    "BACKOFF_FIRST",
    "AsyncSaveLocks",
    "SaveLocks",
    "arun_ops",
    "backoff_delay",
    "run_ops",
]

BACKOFF_FIRST: Final = 0.002
"""The upper bound of the pause after the second lost race of a save, in
seconds; it doubles with every further loss, up to `BACKOFF_CAP`."""

BACKOFF_CAP: Final = 0.1
"""The largest upper bound of one pause between retries, in seconds."""

# Not a secret: the jitter only spreads retries apart.
_jitter = random.Random()  # noqa: S311


def backoff_delay(conflicts: int) -> float:
    """The pause before retrying a save that has lost `conflicts` races.

    No pause after the first loss (within a process, nobody else can be
    saving the session at that point); then a random pause of up to
    `BACKOFF_FIRST` seconds, doubling with every further loss up to
    `BACKOFF_CAP`. The randomness keeps processes that collided once from
    colliding again in lock-step.
    """
    if conflicts <= 1:
        return 0.0
    ceiling = min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** min(conflicts - 2, 16))
    return _jitter.uniform(0.0, ceiling)


# -- per-session turns ---------------------------------------------------------


_LockT = TypeVar("_LockT", threading.Lock, asyncio.Lock)


@final
class _Turn(Generic[_LockT]):
    """One session's lock, and how many requests hold or wait for it."""

    __slots__ = ("lock", "users")

    def __init__(self, lock: _LockT) -> None:
        self.lock: _LockT = lock
        self.users = 0


@final
class SaveLocks:
    """Per-session turns for threads: the saves of one session, one at a time.

    Locks exist only while some request holds or waits for them, so the table
    never grows with the number of sessions served. Share one instance among
    every thread that runs saves against the same store (an adapter keeps one
    per application).
    """

    __slots__ = ("_guard", "_turns")

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._turns: dict[str, _Turn[threading.Lock]] = {}

    def __len__(self) -> int:
        """How many sessions have a save under way or waiting."""
        return len(self._turns)

    def __repr__(self) -> str:
        return f"<SaveLocks active={len(self._turns)}>"

    def acquire(self, key: str, within: float) -> bool:
        """Wait up to `within` seconds for `key`'s turn; True if it was taken.

        Every True must be followed by exactly one `release` of the same key.
        """
        with self._guard:
            turn = self._turns.get(key)
            if turn is None:
                turn = self._turns[key] = _Turn(threading.Lock())
            turn.users += 1
        try:
            taken: bool = turn.lock.acquire(timeout=max(within, 0.0))
        except BaseException:
            self._leave(key, turn)
            raise
        if not taken:
            self._leave(key, turn)
        return taken

    def release(self, key: str) -> None:
        """End `key`'s turn, taken by `acquire`."""
        with self._guard:
            turn = self._turns[key]
        turn.lock.release()
        self._leave(key, turn)

    def _leave(self, key: str, turn: _Turn[threading.Lock]) -> None:
        with self._guard:
            turn.users -= 1
            if turn.users == 0:
                del self._turns[key]


@final
class AsyncSaveLocks:
    """Per-session turns for asyncio tasks; see `SaveLocks`.

    Turns are kept per event loop, so one instance may serve servers running
    on several loops (in several threads); tasks of one loop take turns with
    each other only.
    """

    __slots__ = ("_turns",)

    def __init__(self) -> None:
        # Keyed by (loop, store key): an asyncio.Lock belongs to one loop.
        self._turns: dict[tuple[asyncio.AbstractEventLoop, str], _Turn[asyncio.Lock]] = {}

    def __len__(self) -> int:
        """How many sessions have a save under way or waiting."""
        return len(self._turns)

    def __repr__(self) -> str:
        return f"<AsyncSaveLocks active={len(self._turns)}>"

    async def acquire(self, key: str, within: float) -> bool:
        """Wait up to `within` seconds for `key`'s turn; True if it was taken."""
        slot = (asyncio.get_running_loop(), key)
        turn = self._turns.get(slot)
        if turn is None:
            turn = self._turns[slot] = _Turn(asyncio.Lock())
        turn.users += 1
        try:
            # Even an unlocked lock may make a newcomer queue behind a waiter
            # it has just woken, so every wait is bounded.
            async with asyncio.timeout(max(within, 0.0)):
                await turn.lock.acquire()
        except TimeoutError:
            self._leave(slot, turn)
            return False
        except BaseException:
            self._leave(slot, turn)
            raise
        return True

    def release(self, key: str) -> None:
        """End `key`'s turn, taken by `acquire` on the running loop."""
        slot = (asyncio.get_running_loop(), key)
        turn = self._turns[slot]
        turn.lock.release()
        self._leave(slot, turn)

    def _leave(
        self, slot: tuple[asyncio.AbstractEventLoop, str], turn: _Turn[asyncio.Lock]
    ) -> None:
        turn.users -= 1
        if turn.users == 0:
            del self._turns[slot]


# -- the loops -----------------------------------------------------------------


def _deadline(exchange: Exchange) -> float:
    return time.monotonic() + exchange._protocol.settings.conflict_deadline


def _turn_key(exchange: Exchange, locks: object) -> str | None:
    """The key of the turn to take: the loaded session's, while saving, with locks."""
    if locks is None or exchange.state is not State.SAVING:
        return None
    return exchange.lock_key


def _after_conflict(exchange: Exchange, deadline: float | None) -> tuple[float, float]:
    """(deadline, pause before the retry) after a lost race.

    Without a turn the deadline starts at the first lost race. Gives up (raises
    `SessionConflict`) when the pause would run past the deadline.
    """
    if deadline is None:
        deadline = _deadline(exchange)
    pause = backoff_delay(exchange.conflicts)
    if time.monotonic() + pause >= deadline:
        raise exchange.give_up()
    return deadline, pause


def run_ops(exchange: Exchange, store: Store, *, locks: SaveLocks | None = None) -> None:
    """Run `exchange`'s pending ops against a synchronous store until none remain.

    With `locks`, saves of a stored session take their turn on it first (see
    the module docs). A save that loses races is retried with backoff until
    ``Settings.conflict_deadline``; then `SessionConflict` is raised.

    Raises:
        StoreError: the store failed (the exchange is failed too).
        SessionConflict: the save could not complete before the deadline.

    """
    op = exchange.next_op()
    if op is None:
        return
    key = _turn_key(exchange, locks)
    if key is None or locks is None:
        _drive(exchange, store, op, None)
        return
    deadline = _deadline(exchange)
    if not locks.acquire(key, deadline - time.monotonic()):
        raise exchange.give_up(waiting=True)
    try:
        _drive(exchange, store, op, deadline)
    finally:
        locks.release(key)


def _drive(exchange: Exchange, store: Store, op: Op | None, deadline: float | None) -> None:
    while op is not None:
        try:
            result: Result = store.execute(op)
        except StoreError as error:
            result = StoreFailed(error=error)
        op = exchange.send(result)
        if op is not None and type(result) is Conflict:
            deadline, pause = _after_conflict(exchange, deadline)
            if pause:
                time.sleep(pause)


async def arun_ops(
    exchange: Exchange, store: AsyncStore, *, locks: AsyncSaveLocks | None = None
) -> None:
    """Run `exchange`'s pending ops against an asynchronous store; see `run_ops`."""
    op = exchange.next_op()
    if op is None:
        return
    key = _turn_key(exchange, locks)
    if key is None or locks is None:
        await _adrive(exchange, store, op, None)
        return
    deadline = _deadline(exchange)
    if not await locks.acquire(key, deadline - time.monotonic()):
        raise exchange.give_up(waiting=True)
    try:
        await _adrive(exchange, store, op, deadline)
    finally:
        locks.release(key)


async def _adrive(
    exchange: Exchange, store: AsyncStore, op: Op | None, deadline: float | None
) -> None:
    while op is not None:
        try:
            result: Result = await store.execute(op)
        except StoreError as error:
            result = StoreFailed(error=error)
        op = exchange.send(result)
        if op is not None and type(result) is Conflict:
            deadline, pause = _after_conflict(exchange, deadline)
            if pause:
                await asyncio.sleep(pause)
