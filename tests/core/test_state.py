"""The transition table alone, without an exchange."""

from __future__ import annotations

import pytest

from satchel import ProtocolError
from satchel._state import TRANSITIONS, Event, Machine, State, mermaid_diagram


def test_every_state_is_in_the_table() -> None:
    assert set(TRANSITIONS) == set(State)


def test_terminal_states_have_no_way_out() -> None:
    assert TRANSITIONS[State.DONE] == {Event.MISUSE: State.ERROR}
    assert TRANSITIONS[State.ERROR] == {}


def test_misuse_leads_to_error_from_every_state_but_error() -> None:
    for state, edges in TRANSITIONS.items():
        if state is not State.ERROR:
            assert edges[Event.MISUSE] is State.ERROR


def test_only_states_with_an_op_out_can_see_a_store_failure() -> None:
    failing = {state for state, edges in TRANSITIONS.items() if Event.STORE_FAILED in edges}
    assert failing == {State.LOADING, State.SAVING}


def test_fail_records_misuse() -> None:
    machine = Machine()
    machine.fire(Event.FINISH_QUIET)
    error = machine.fail("finish twice")
    assert isinstance(error, ProtocolError)
    assert machine.state is State.ERROR


def test_done_is_reachable_from_idle_both_ways() -> None:
    quiet = Machine()
    assert quiet.fire(Event.FINISH_QUIET) is State.DONE
    busy = Machine()
    for event in (
        Event.OPEN_LOAD,
        Event.LOAD_ANSWERED,
        Event.FINISH_STORE,
        Event.STORE_MORE,
        Event.STORE_DONE,
    ):
        busy.fire(event)
    assert busy.state is State.DONE


@pytest.mark.parametrize(
    ("events", "illegal"),
    [
        ([], Event.LOAD_ANSWERED),
        ([Event.OPEN_LOAD], Event.FINISH_QUIET),
        ([Event.FINISH_QUIET], Event.FINISH_QUIET),
        ([Event.OPEN_READY, Event.FINISH_STORE], Event.OPEN_READY),
    ],
)
def test_an_illegal_event_raises_and_sticks_in_error(events: list[Event], illegal: Event) -> None:
    machine = Machine()
    for event in events:
        machine.fire(event)
    with pytest.raises(ProtocolError, match=illegal.value):
        machine.fire(illegal)
    assert machine.state is State.ERROR
    with pytest.raises(ProtocolError):
        machine.fire(Event.OPEN_READY)


def test_diagram_has_one_edge_per_transition() -> None:
    diagram = mermaid_diagram()
    edges = sum(len(targets) for targets in TRANSITIONS.values())
    assert diagram.count(" --> ") == edges + 2  # plus the start and end markers
