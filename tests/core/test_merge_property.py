"""Property: re-applying a request's changes after a conflict loses nothing."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from satchel import Keyring, MemoryStore, SessionProtocol, Settings, run_ops
from satchel.testing import Browser, ManualClock

from ..conftest import SECRET

PROTOCOL = SessionProtocol(Settings(keyring=Keyring([SECRET])), storage="server")
DELETE = object()

keys = st.sampled_from(["a", "b", "c", "d", "e", "f"])
values = st.integers(0, 3) | st.lists(st.integers(0, 3), max_size=2)
changes = st.dictionaries(keys, values | st.just(DELETE), max_size=6)


def apply(data: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    result = dict(data)
    for key, value in change.items():
        if value is DELETE:
            result.pop(key, None)
        else:
            result[key] = value
    return result


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(keys, values, min_size=1, max_size=6), changes, changes)
def test_merge_never_loses_a_key_changed_by_only_one_side(
    base: dict[str, Any], mine: dict[str, Any], theirs: dict[str, Any]
) -> None:
    clock = ManualClock()
    store = MemoryStore()
    browser = Browser(PROTOCOL, clock, store)
    browser.request(lambda session: session.update(base))
    header = browser.cookie_header()

    first = PROTOCOL.begin(header, now=clock())
    first.open()
    run_ops(first, store)
    second = PROTOCOL.begin(header, now=clock())
    second.open()
    run_ops(second, store)

    for exchange, change in ((second, theirs), (first, mine)):
        for key, value in change.items():
            if value is DELETE:
                exchange.session.pop(key, None)
            else:
                exchange.session[key] = value
    second.finish()
    run_ops(second, store)
    first.finish()
    run_ops(first, store)

    final = browser.request(lambda session: dict(session)).value
    mine_effective = {k for k in mine if apply(base, mine).get(k, DELETE) != base.get(k, DELETE)}
    theirs_effective = {
        k for k in theirs if apply(base, theirs).get(k, DELETE) != base.get(k, DELETE)
    }
    expected_mine = apply(base, mine)
    expected_theirs = apply(base, theirs)
    for key in "abcdef":
        got = final.get(key, DELETE)
        if key in mine_effective:
            assert got == expected_mine.get(key, DELETE), key
        elif key in theirs_effective:
            assert got == expected_theirs.get(key, DELETE), key
        else:
            assert got == base.get(key, DELETE), key
