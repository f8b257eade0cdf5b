"""Every rule of the exchange's state machine lives in this file.

The transitions are one table: an event that has no entry for the current
state is a protocol error, and the machine stays in `State.ERROR` afterwards.
The documentation's state diagram is generated from `TRANSITIONS` by
`mermaid_diagram`, and a test fails if the committed copy drifts.
"""

from __future__ import annotations

import enum
from typing import Final, final

from ._errors import ProtocolError

__all__ = ["TRANSITIONS", "Event", "State", "mermaid_diagram"]


class State(enum.Enum):
    """Where an exchange is in its request."""

    # Members are singletons: hashing by identity keeps the transition
    # lookups in C (Enum's own hash is a Python-level method).
    __hash__ = object.__hash__

    IDLE = "IDLE"
    """Begun; nobody has asked for the session yet."""
    LOADING = "LOADING"
    """A `Load` is out; the session is available once its result is sent."""
    OPEN = "OPEN"
    """The session view is available."""
    SAVING = "SAVING"
    """Finished; `Save`/`Delete` (and, after a conflict, `Load`) ops are out."""
    DONE = "DONE"
    """Finished; the outcome (headers to send) is available."""
    ERROR = "ERROR"
    """Misused, failed at finish, or the store failed; every call raises `ProtocolError`."""


class Event(enum.Enum):
    """What can happen to an exchange."""

    __hash__ = object.__hash__

    OPEN_READY = "open, nothing to load"
    OPEN_LOAD = "open, emit Load"
    LOAD_ANSWERED = "Load answered"
    FINISH_QUIET = "finish, no store op"
    FINISH_STORE = "finish, emit Save/Delete"
    STORE_MORE = "answered, more ops"
    STORE_DONE = "answered, no more ops"
    STORE_FAILED = "store failure"
    ABANDON = "abandon (the request failed)"
    GIVE_UP = "give up (conflict deadline)"
    MISUSE = "misuse or failed finish"


_S, _E = State, Event

TRANSITIONS: Final[dict[State, dict[Event, State]]] = {
    _S.IDLE: {
        _E.OPEN_READY: _S.OPEN,
        _E.OPEN_LOAD: _S.LOADING,
        _E.FINISH_QUIET: _S.DONE,
        _E.ABANDON: _S.ERROR,
        _E.MISUSE: _S.ERROR,
    },
    _S.LOADING: {
        _E.LOAD_ANSWERED: _S.OPEN,
        _E.STORE_FAILED: _S.ERROR,
        _E.ABANDON: _S.ERROR,
        _E.MISUSE: _S.ERROR,
    },
    _S.OPEN: {
        _E.FINISH_QUIET: _S.DONE,
        _E.FINISH_STORE: _S.SAVING,
        _E.ABANDON: _S.ERROR,
        _E.MISUSE: _S.ERROR,
    },
    _S.SAVING: {
        _E.STORE_MORE: _S.SAVING,
        _E.STORE_DONE: _S.DONE,
        _E.STORE_FAILED: _S.ERROR,
        _E.GIVE_UP: _S.ERROR,
        _E.MISUSE: _S.ERROR,
    },
    _S.DONE: {
        _E.MISUSE: _S.ERROR,
    },
    _S.ERROR: {},
}


@final
class Machine:
    """Holds the current state and applies `TRANSITIONS`."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = State.IDLE

    def fire(self, event: Event) -> State:
        """Apply `event`; an illegal one raises `ProtocolError` and sets ERROR."""
        try:
            self.state = TRANSITIONS[self.state][event]
        except KeyError:
            previous = self.state
            self.state = State.ERROR
            raise ProtocolError(f"cannot {event.value!r} in state {previous.name}") from None
        return self.state

    def fail(self, message: str) -> ProtocolError:
        """Record misuse (`Event.MISUSE`): enter ERROR and return the error to raise."""
        # MISUSE is legal from every state but ERROR, which it never leaves.
        self.state = TRANSITIONS[self.state].get(Event.MISUSE, State.ERROR)
        return ProtocolError(message)


def mermaid_diagram() -> str:
    """The state diagram as Mermaid source, generated from `TRANSITIONS`."""
    lines = ["stateDiagram-v2", "    [*] --> IDLE: begin"]
    for source, edges in TRANSITIONS.items():
        for event, target in edges.items():
            lines.append(f"    {source.name} --> {target.name}: {event.value}")
    lines.append("    DONE --> [*]: outcome")
    return "\n".join(lines) + "\n"
