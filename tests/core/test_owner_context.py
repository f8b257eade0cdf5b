"""Sessions by owner through the request's context: `satchel.owner_sessions`
and its siblings, with the adapters' runtimes and an injected clock.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from satchel import (
    AdapterOptions,
    AsyncSessionRuntime,
    Exchange,
    ExchangeContext,
    Keyring,
    MemoryStore,
    NoRequestContext,
    ProtocolError,
    Session,
    SessionRuntime,
    Settings,
    aend_owner_session,
    end_owner_session,
    enter_request,
    exit_request,
    load_owner_sessions,
    owner_sessions,
)
from satchel.testing import Browser, ManualClock

from ..conftest import SECRET


class _Context(ExchangeContext):
    """A minimal request context over a runtime, as an adapter binds one."""

    def __init__(self, runtime: Any, exchange: Exchange) -> None:
        self._runtime = runtime
        self.exchange = exchange

    @property
    def runtime(self) -> Any:
        return self._runtime

    def get_session(self) -> Session:
        if self.exchange.state.name == "IDLE":
            if isinstance(self._runtime, SessionRuntime):
                return self._runtime.load(self.exchange)
            raise ProtocolError("await load_session() first")
        return self.exchange.session

    async def load_session(self) -> Session:
        if self.exchange.state.name == "IDLE":
            if isinstance(self._runtime, AsyncSessionRuntime):
                return await self._runtime.load(self.exchange)
            return self._runtime.load(self.exchange)
        return self.exchange.session


def _runtime(flavour: str, store: Any, clock: ManualClock) -> Any:
    options = AdapterOptions[Any](
        settings=Settings(keyring=Keyring([SECRET])),
        store=store,
        flavour=flavour,  # type: ignore[arg-type]
        framework="test",
        clock=clock,
    )
    runtime_class = SessionRuntime if flavour == "sync" else AsyncSessionRuntime
    return runtime_class(options, logging.getLogger("test"))


def _log_in_three(runtime: Any, store: MemoryStore, clock: ManualClock) -> list[Browser]:
    browsers = [Browser(runtime.protocol, clock, store) for _ in range(3)]
    for index, browser in enumerate(browsers):
        browser.request(
            lambda s, index=index: (s.regenerate(owner="ada"), setattr(s, "label", str(index)))
        )
    return browsers


def _bound(runtime: Any, browser: Browser, clock: ManualClock) -> Any:
    exchange = runtime.protocol.begin(browser.cookie_header(), now=clock())
    return enter_request(_Context(runtime, exchange))


def test_a_sync_adapter_lists_and_ends_from_the_context(clock: ManualClock) -> None:
    store = MemoryStore()
    runtime = _runtime("sync", store, clock)
    browsers = _log_in_three(runtime, store, clock)
    token = _bound(runtime, browsers[0], clock)
    try:
        listed = owner_sessions()
        assert sorted(info.label or "" for info in listed) == ["0", "1", "2"]
        [current] = [info for info in listed if info.current]
        assert current.label == "0"
        other = next(info for info in listed if not info.current)
        assert end_owner_session(other.handle)
        assert not end_owner_session(other.handle)
        assert len(owner_sessions()) == 2
    finally:
        exit_request(token)


def test_an_async_adapter_lists_and_ends_from_the_context(clock: ManualClock) -> None:
    store = MemoryStore()
    runtime = _runtime("any", store, clock)  # a sync store on worker threads
    browsers = _log_in_three(runtime, store, clock)

    async def scenario() -> tuple[int, bool, int]:
        token = _bound(runtime, browsers[0], clock)
        try:
            listed = await load_owner_sessions()
            other = next(info for info in listed if not info.current)
            ended = await aend_owner_session(other.handle)
            return len(listed), ended, len(await load_owner_sessions())
        finally:
            exit_request(token)

    assert asyncio.run(scenario()) == (3, True, 2)


def test_the_sync_accessors_refuse_an_async_adapter(clock: ManualClock) -> None:
    store = MemoryStore()
    runtime = _runtime("any", store, clock)
    browsers = _log_in_three(runtime, store, clock)
    token = _bound(runtime, browsers[0], clock)
    try:
        with pytest.raises(ProtocolError, match="await load_owner_sessions"):
            owner_sessions()
        with pytest.raises(ProtocolError, match="await aend_owner_session"):
            end_owner_session("handle")
    finally:
        exit_request(token)


def test_a_session_without_owner_is_refused(clock: ManualClock) -> None:
    runtime = _runtime("sync", MemoryStore(), clock)
    token = enter_request(_Context(runtime, runtime.protocol.begin(None, now=clock())))
    try:
        with pytest.raises(ProtocolError, match="no owner"):
            owner_sessions()
        with pytest.raises(ProtocolError, match="no owner"):
            end_owner_session("handle")
    finally:
        exit_request(token)


def test_outside_a_request_is_a_clear_error() -> None:
    with pytest.raises(NoRequestContext, match="owner_sessions"):
        owner_sessions()
    with pytest.raises(NoRequestContext, match="load_owner_sessions"):
        asyncio.run(load_owner_sessions())


def test_a_context_without_runtime_says_so(clock: ManualClock) -> None:
    class Bare(_Context):
        runtime = ExchangeContext.runtime  # the default: no runtime

    runtime = _runtime("sync", MemoryStore(), clock)
    token = enter_request(Bare(runtime, runtime.protocol.begin(None, now=clock())))
    try:
        with pytest.raises(ProtocolError, match="gives no access to its adapter's runtime"):
            owner_sessions()
    finally:
        exit_request(token)
