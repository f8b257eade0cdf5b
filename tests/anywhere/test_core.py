"""The request-scoped context, with no framework: a small `RequestContext`
over the sync runtime, a real memory store and `ManualClock`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

import satchel
from satchel import (
    AdapterOptions,
    Exchange,
    ExchangeContext,
    Keyring,
    NoRequestContext,
    Op,
    ProtocolError,
    RequestContext,
    Result,
    Session,
    SessionRuntime,
    Settings,
    State,
)
from satchel.testing import ManualClock

from ..conftest import SECRET

COOKIE = "session"


class RecordingStore:
    """A real memory store that keeps the name of every op it runs."""

    def __init__(self) -> None:
        self.inner = satchel.MemoryStore()
        self.ops: list[str] = []

    def execute(self, op: Op) -> Result:
        self.ops.append(type(op).__name__)
        return self.inner.execute(op)


class SyncContext(ExchangeContext):
    """What a synchronous adapter binds: the exchange, opened on first use."""

    __slots__ = ("exchange", "runtime")

    def __init__(self, runtime: SessionRuntime, exchange: Exchange) -> None:
        self.runtime = runtime
        self.exchange = exchange

    def get_session(self) -> Session:
        if self.exchange.state is State.IDLE:
            return self.runtime.load(self.exchange)
        return self.exchange.session

    async def load_session(self) -> Session:
        return self.get_session()


class Server:
    """Serves "requests" (a function run in a bound context) with real cookies."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.store = RecordingStore()
        options = AdapterOptions[Any](
            settings=Settings(keyring=Keyring([SECRET]), cookie_name=COOKIE, idle_timeout=60),
            store=self.store,
            flavour="sync",
            framework="test",
            clock=self.clock,
        )
        self.runtime = SessionRuntime(options, logging.getLogger("satchel.test-context"))

    def begin(self, cookie: str | None = None) -> SyncContext:
        return SyncContext(self.runtime, self.runtime.begin(cookie))

    def serve(self, view: Any, cookie: str | None = None) -> tuple[Any, tuple[str, ...]]:
        """Run `view()` as one request; its result and the Set-Cookie headers."""
        context = self.begin(cookie)
        token = satchel.enter_request(context)
        try:
            result = view()
        finally:
            satchel.exit_request(token)
        outcome = self.runtime.save(context.exchange)
        return result, tuple(value for name, value in outcome.headers if name == "Set-Cookie")


def session_cookie(set_cookies: tuple[str, ...]) -> str:
    (header,) = [value for value in set_cookies if value.startswith(f"{COOKIE}=")]
    return header.split(";", 1)[0]


@pytest.fixture
def server() -> Server:
    return Server()


def test_outside_a_request_every_accessor_names_the_problem() -> None:
    assert not satchel.has_request_context()
    calls: dict[str, Callable[[], object]] = {
        "current_session": satchel.current_session,
        "current_request_cookies": satchel.current_request_cookies,
        "set_response_cookie": lambda: satchel.set_response_cookie("a", "b"),
        "delete_response_cookie": lambda: satchel.delete_response_cookie("a"),
        "load_current_session": lambda: asyncio.run(satchel.load_current_session()),
    }
    for name, call in calls.items():
        with pytest.raises(NoRequestContext, match=rf"satchel\.{name}\(\) .*outside of a request"):
            call()
    assert issubclass(NoRequestContext, ProtocolError)


def test_a_helper_reaches_the_session_and_keeps_it_across_requests(server: Server) -> None:
    def login() -> None:
        satchel.current_session()["user"] = "ada"

    def whoami() -> object:
        return satchel.current_session().get("user")

    _, set_cookies = server.serve(login)
    assert server.store.ops == ["Save"]
    user, _ = server.serve(whoami, cookie=session_cookie(set_cookies))
    assert user == "ada"
    assert server.store.ops == ["Save", "Load"]


def test_an_untouched_request_costs_no_store_op_and_no_cookie(server: Server) -> None:
    context = server.begin(f"{COOKIE}=whatever; theme=dark")
    token = satchel.enter_request(context)
    try:
        assert satchel.has_request_context()
    finally:
        satchel.exit_request(token)
    assert context.exchange.state is State.IDLE
    assert server.runtime.save(context.exchange).headers == ()
    assert server.store.ops == []


def test_cookies_are_read_and_set_through_the_context(server: Server) -> None:
    def view() -> dict[str, str]:
        satchel.set_response_cookie("theme", "light", max_age=60)
        satchel.delete_response_cookie("old")
        return dict(satchel.current_request_cookies())

    cookies, set_cookies = server.serve(view, cookie="theme=dark; lang=en")
    assert cookies == {"theme": "dark", "lang": "en"}
    assert any(value.startswith("theme=light;") and "Max-Age=60" in value for value in set_cookies)
    assert any(value.startswith("old=;") for value in set_cookies)
    assert server.store.ops == []  # the session was never opened


def test_the_idle_timeout_is_seen_through_the_context(server: Server) -> None:
    _, set_cookies = server.serve(lambda: satchel.current_session().update(user="ada"))
    server.clock.advance(61)
    session: Session = server.serve(satchel.current_session, cookie=session_cookie(set_cookies))[0]
    assert session.ended_reason == "idle"


def test_exit_restores_the_outer_request() -> None:
    outer, inner = Server().begin(), Server().begin()
    outer_token = satchel.enter_request(outer)
    inner_token = satchel.enter_request(inner)
    assert satchel.current_request_cookies() is inner.exchange.request_cookies
    satchel.exit_request(inner_token)
    assert satchel.current_request_cookies() is outer.exchange.request_cookies
    satchel.exit_request(outer_token)
    assert not satchel.has_request_context()


def test_a_session_used_after_the_response_raises_protocol_error(server: Server) -> None:
    context = server.begin()
    token = satchel.enter_request(context)
    try:
        session = satchel.current_session()
        server.runtime.save(context.exchange)  # the headers leave
        with pytest.raises(ProtocolError):
            session["late"] = True
        with pytest.raises(ProtocolError):
            satchel.set_response_cookie("late", "1")
    finally:
        satchel.exit_request(token)


def test_tasks_see_their_own_request_and_children_inherit() -> None:
    server = Server()

    async def request(index: int) -> tuple[object, object]:
        token = satchel.enter_request(server.begin(f"n={index}"))
        try:
            await asyncio.sleep(0)  # let the other requests interleave

            async def child() -> object:
                await asyncio.sleep(0)
                return satchel.current_request_cookies()["n"]

            child_sees = await asyncio.create_task(child())
            return satchel.current_request_cookies()["n"], child_sees
        finally:
            satchel.exit_request(token)

    async def main() -> list[tuple[object, object]]:
        return await asyncio.gather(*(request(index) for index in range(50)))

    assert asyncio.run(main()) == [(str(index), str(index)) for index in range(50)]


def test_a_thread_the_request_did_not_start_has_no_request() -> None:
    seen: list[BaseException] = []
    token = satchel.enter_request(Server().begin())
    try:
        thread = threading.Thread(target=lambda: seen.append(_error(satchel.current_session)))
        thread.start()
        thread.join()
    finally:
        satchel.exit_request(token)
    assert len(seen) == 1
    assert isinstance(seen[0], NoRequestContext)


def _error(call: Any) -> BaseException:
    try:
        call()
    except BaseException as error:
        return error
    raise AssertionError("no error")


def test_a_source_makes_its_context_only_when_code_asks(server: Server) -> None:
    class Source:
        def __init__(self) -> None:
            self.made: list[SyncContext] = []

        def satchel_request_context(self) -> RequestContext:
            if not self.made:
                self.made.append(server.begin("theme=dark"))
            return self.made[0]

    source = Source()
    token = satchel.enter_request(source)
    try:
        assert source.made == []  # binding asked for nothing
        assert satchel.has_request_context()
        assert satchel.current_request_cookies() == {"theme": "dark"}
        assert satchel.current_request_cookies() is source.made[0].exchange.request_cookies
        assert len(source.made) == 1
    finally:
        satchel.exit_request(token)
