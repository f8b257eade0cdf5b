"""The public adapter kit: the route contract, the switchable stores, the
checks' hooks, and what importing the kit pulls in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from satchel import AsyncMemoryStore, Load, MemoryStore, Missing, StoreError
from satchel.testing import (
    AdapterConformance,
    AsyncSwitchableStore,
    HttpClient,
    LiveServer,
    ManualClock,
    SwitchableStore,
    routes,
)


def test_every_route_function_is_documented() -> None:
    for name in routes.__all__:
        value = getattr(routes, name)
        if callable(value):
            assert value.__doc__, name


def test_the_route_contract_imports_no_framework_and_no_test_runner() -> None:
    code = (
        "import json, sys\n"
        "from satchel.testing import routes, HttpClient, SwitchableStore, LiveServer\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    loaded = set(json.loads(out))
    for name in (
        "pytest",
        "aiohttp",
        "tornado",
        "flask",
        "starlette",
        "satchel_aiohttp",
        "satchel_tornado",
        "satchel_wsgi",
    ):
        assert name not in loaded, name


def test_the_conformance_suite_is_still_reachable_from_the_package() -> None:
    import satchel.testing

    assert satchel.testing.AdapterConformance is AdapterConformance
    with pytest.raises(AttributeError):
        satchel.testing.NoSuchThing  # noqa: B018


def test_switchable_store_breaks_and_mends() -> None:
    inner = MemoryStore()
    store = SwitchableStore(inner)
    op = Load(key=b"k" * 32, now=0.0)
    assert isinstance(store.execute(op), Missing)
    store.break_down()
    assert store.broken
    with pytest.raises(StoreError):
        store.execute(op)
    assert store.sweep is not None
    with pytest.raises(StoreError):
        store.sweep(0.0)
    store.mend()
    assert not store.broken
    assert isinstance(store.execute(op), Missing)
    assert store.sweep(0.0) == 0
    assert not hasattr(store, "close")  # MemoryStore has none; anything else is forwarded


def test_async_switchable_store_breaks_and_mends() -> None:
    store = AsyncSwitchableStore(AsyncMemoryStore())
    op = Load(key=b"k" * 32, now=0.0)

    async def run() -> None:
        assert isinstance(await store.execute(op), Missing)
        store.break_down()
        with pytest.raises(StoreError):
            await store.execute(op)
        store.mend()
        assert isinstance(await store.execute(op), Missing)

    asyncio.run(run())


def test_a_server_side_suite_without_the_store_hooks_fails_naming_them() -> None:
    class Suite(AdapterConformance):
        server_side = True

    server = LiveServer(base_url="http://127.0.0.1:9", clock=ManualClock(0.0))
    client = HttpClient(server.base_url)
    with pytest.raises(
        pytest.fail.Exception, match=r"LiveServer\.break_store and LiveServer\.mend_store"
    ):
        Suite().test_a_failing_store_is_a_503_then_recovers(client, server)


def test_checks_that_cannot_apply_are_not_collected() -> None:
    class CookieSuite(AdapterConformance):
        pass

    class ServerSuite(AdapterConformance):
        server_side = True
        websockets = True

    for name in (
        "test_websocket_handshake_reads_the_session",
        "test_websocket_handshake_carries_the_session_cookie",
        "test_a_failing_store_is_a_503_then_recovers",
    ):
        assert getattr(CookieSuite, name) is None, name  # pytest collects callables only
        assert callable(getattr(ServerSuite, name)), name
    # Other suites are untouched by a subclass switching checks off.
    assert callable(AdapterConformance.test_websocket_handshake_reads_the_session)


class _OneAnswer(socketserver.BaseRequestHandler):
    answer = b""

    def handle(self) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            part = self.request.recv(4096)
            if not part:
                return
            data += part
        self.request.sendall(self.answer)


@contextlib.contextmanager
def _answering(answer: bytes) -> Iterator[str]:
    handler = type("Handler", (_OneAnswer,), {"answer": answer})
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            thread.join()


def test_websocket_handshake_refused_is_a_plain_answer() -> None:
    answer = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nSet-Cookie: a=b\r\n\r\n"
    with _answering(answer) as url:
        client = HttpClient(url)
        response = client.websocket_handshake("/ws")
    assert response.status == 404
    assert client.cookies == {"a": "b"}


def test_websocket_handshake_with_a_wrong_accept_fails() -> None:
    answer = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n"
    )
    with _answering(answer) as url, pytest.raises(AssertionError, match="Sec-WebSocket-Accept"):
        HttpClient(url).websocket_handshake("/ws")
