"""The request-scoped context on Tornado, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web

from satchel import Settings, ThreadedStore
from satchel_tornado import SessionConfig, SessionMixin

from ..stores import CountingStore
from ..tornado._live import serving
from . import _helpers
from ._checks import AnywhereChecks, Served


class Login(SessionMixin, tornado.web.RequestHandler):
    async def get(self, user: str) -> None:
        self.write(await _helpers.alogin(user))


class WhoAmI(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(0.02)  # the other requests run meanwhile
        self.write(await _helpers.awhoami())


class Child(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        self.write(await _helpers.awhoami_in_a_task())


class Untouched(SessionMixin, tornado.web.RequestHandler):
    def get(self) -> None:
        self.write(_helpers.untouched())


class Late(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        await _helpers.awhoami()
        await self.flush()  # the headers leave here
        self.write(_helpers.late())


class Cookies(SessionMixin, tornado.web.RequestHandler):
    def get(self) -> None:
        self.write(_helpers.cookies())


class TestTornado(AnywhereChecks):
    child_sees = "ada"
    probe_finds = "NoRequestContext|NoRequestContext|NoRequestContext"

    @pytest.fixture
    def served(self, settings: Settings, counting_store: CountingStore) -> Iterator[Served]:
        app = tornado.web.Application(
            [
                (r"/login/(.+)", Login),
                (r"/whoami", WhoAmI),
                (r"/child", Child),
                (r"/untouched", Untouched),
                (r"/late", Late),
                (r"/cookies", Cookies),
            ],
            satchel=SessionConfig(settings, store=ThreadedStore(counting_store)),
        )
        probes: list[str] = []

        async def run(stop: asyncio.Event, ready: Callable[[int], None]) -> None:
            sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", backlog=256)
            server = tornado.httpserver.HTTPServer(app)
            server.add_sockets(sockets)
            # The probe runs on the server's loop, in a task no request started.
            probes.append(await asyncio.get_running_loop().create_task(_helpers.aprobe_outside()))
            try:
                ready(sockets[0].getsockname()[1])
                await stop.wait()
            finally:
                server.stop()
                await server.close_all_connections()

        with serving(run) as url:
            yield Served(url, counting_store.ops, lambda: probes[0])
