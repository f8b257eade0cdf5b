"""The handlers the adapter tests run on a real server."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import tornado.web
import tornado.websocket

from satchel import CookieError, ProtocolError
from satchel_tornado import SessionConfig, SessionMixin


class Probe:
    """What the handlers saw, for the test to check after the response."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.done = threading.Event()

    def wait(self) -> list[str]:
        assert self.done.wait(5), "the handler did not get that far"
        return self.events


class Base(SessionMixin, tornado.web.RequestHandler):
    def initialize(self, probe: Probe) -> None:
        self.probe = probe


class Plain(Base):
    def get(self) -> None:
        self.write("plain")


class Put(Base):
    async def get(self, key: str, value: str) -> None:
        session = await self.get_session()
        session[key] = value
        self.write("ok")


class PutWithCookies(Base):
    async def get(self) -> None:
        self.set_cookie("framework", "1")
        self.set_response_cookie("mine", "1", secure=False)
        session = await self.get_session()
        session["k"] = "v"
        self.write("ok")


class Get(Base):
    async def get(self) -> None:
        session = await self.get_session()
        self.probe.events.append("get ran")
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(dict(session), sort_keys=True))


class Login(Base):
    async def get(self, user: str) -> None:
        session = await self.get_session()
        session.regenerate()
        session["user"] = user
        self.write(user)


class ShowFlash(Base):
    async def get(self) -> None:
        session = await self.get_session()
        self.write(str(session.flashed.get("message", "")))


class Redirect(Base):
    async def get(self) -> None:
        session = await self.get_session()
        session["redirected"] = "yes"
        self.redirect("/get")


class FinishRedirect(Base):
    async def get(self) -> None:
        session = await self.get_session()
        session["finished"] = "yes"
        self.set_status(303)
        self.set_header("Location", "/get")
        raise tornado.web.Finish()


class Forbidden(Base):
    async def get(self) -> None:
        session = await self.get_session()
        session["denied"] = "yes"
        raise tornado.web.HTTPError(403)


class Crash(Base):
    async def get(self) -> None:
        session = await self.get_session()
        session["crashed"] = "yes"
        self.set_response_cookie("mine", "1", secure=False)
        raise ValueError("a bug in the handler")


class ServerError(Base):
    async def get(self) -> None:
        session = await self.get_session()
        session["failed"] = "yes"
        raise tornado.web.HTTPError(500)


class Twice(Base):
    async def get(self) -> None:
        first, second = await asyncio.gather(self.get_session(), self.get_session())
        assert first is second
        first["twice"] = "yes"
        self.write("same")


class Missing(Base):
    def get(self) -> None:
        raise tornado.web.HTTPError(404)


class Stream(Base):
    async def get(self) -> None:
        session = await self.get_session()
        session["streamed"] = "yes"
        self.set_header("Content-Type", "text/plain")
        try:
            for index in range(4):
                self.write(f"chunk {index}\n")
                await self.flush()
                if index == 0:
                    try:
                        session["late"] = "no"
                    except ProtocolError:
                        self.probe.events.append("late change refused")
        except tornado.web.Finish:
            self.probe.events.append("stopped")
            raise
        finally:
            self.probe.done.set()


class StreamThenSession(Base):
    async def get(self) -> None:
        self.write("first\n")
        await self.flush()
        try:
            await self.get_session()
        except ProtocolError:
            self.probe.events.append("session refused")
        self.write("second\n")
        self.probe.done.set()


class Late(Base):
    async def get(self) -> None:
        session = await self.get_session()
        session["a"] = "1"
        await self.finish("sent")
        for name, attempt in [
            ("write", lambda: session.__setitem__("b", "2")),
            ("read", lambda: session.get("a")),
            ("cookie", lambda: self.set_response_cookie("c", "1")),
        ]:
            try:
                attempt()
            except ProtocolError:
                self.probe.events.append(f"{name} refused")
        try:
            await self.get_session()
        except ProtocolError:
            self.probe.events.append("get_session refused")
        self.probe.done.set()


class TooLarge(Base):
    async def get(self) -> None:
        session = await self.get_session()
        session["blob"] = "x" * 6000
        self.write("never sent")


class Unstorable(Base):
    async def get(self) -> None:
        session = await self.get_session()
        session["bad"] = object()
        self.write("never sent")


class Cookies(Base):
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(dict(self.request_cookies), sort_keys=True))


class Forget(Base):
    def get(self, name: str) -> None:
        self.delete_response_cookie(name, secure=False)
        self.write("forgotten")


class BadCookie(Base):
    def get(self) -> None:
        try:
            self.set_response_cookie("theme", "dark;\r\nSet-Cookie: admin=1")
        except CookieError:
            self.probe.events.append("refused")
        self.write("checked")


class Socket(SessionMixin, tornado.websocket.WebSocketHandler):
    async def prepare(self) -> None:
        session = await self.get_session()
        self.user = str(session.get("user", ""))
        session["socket"] = "yes"
        await self.finish_session()

    def open(self, *args: str, **kwargs: str) -> None:
        self.write_message(f"hello {self.user}")


class CarelessSocket(SessionMixin, tornado.websocket.WebSocketHandler):
    async def prepare(self) -> None:
        session = await self.get_session()
        session["socket"] = "yes"

    def open(self, *args: str, **kwargs: str) -> None:
        self.write_message("should not open")


def make_app(config: SessionConfig, probe: Probe, **settings: Any) -> tornado.web.Application:
    args = {"probe": probe}
    routes: list[Any] = [
        (r"/plain", Plain, args),
        (r"/put/([^/]+)/([^/]+)", Put, args),
        (r"/put-with-cookies", PutWithCookies, args),
        (r"/get", Get, args),
        (r"/login/([^/]+)", Login, args),
        (r"/show-flash", ShowFlash, args),
        (r"/redirect", Redirect, args),
        (r"/finish-redirect", FinishRedirect, args),
        (r"/forbidden", Forbidden, args),
        (r"/missing", Missing, args),
        (r"/crash", Crash, args),
        (r"/server-error", ServerError, args),
        (r"/twice", Twice, args),
        (r"/stream", Stream, args),
        (r"/stream-then-session", StreamThenSession, args),
        (r"/late", Late, args),
        (r"/too-large", TooLarge, args),
        (r"/unstorable", Unstorable, args),
        (r"/cookies", Cookies, args),
        (r"/forget/([^/]+)", Forget, args),
        (r"/bad-cookie", BadCookie, args),
        (r"/socket", Socket),
        (r"/careless-socket", CarelessSocket),
    ]
    return tornado.web.Application(routes, satchel=config, **settings)
