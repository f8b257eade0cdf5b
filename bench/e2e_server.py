"""One end-to-end benchmark server: ``python bench/e2e_server.py VARIANT --port N``.

Every variant serves two routes on 127.0.0.1:

- ``GET /login`` puts the realistic session (user id, roles, CSRF token,
  five-item cart) in place and answers with its cookie;
- ``GET /`` is the measured handler: it reads the session (user id, roles,
  CSRF token, cart) and changes one value, so the cookie or the stored record
  is written on every request.

The bare variants answer both routes with the same small body and no session.
Each variant uses its library the way its documentation shows, with defaults
unless a default would make the comparison unfair (noted where so).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SECRET, payload

HOST = "127.0.0.1"
# aiohttp-session's encrypted storage takes a raw 32-byte key.
AIOHTTP_SESSION_KEY = SECRET.encode()[:32].ljust(32, b".")


def work(session: Any) -> str:
    """What every session handler does: read the whole session, change one value."""
    user_id = session["user_id"]
    roles = session["roles"]
    csrf = session["csrf"]
    cart = session["cart"]
    visits = session.get("visits", 0) + 1
    session["visits"] = visits
    return f"user {user_id} roles {len(roles)} csrf {len(csrf)} cart {len(cart)} visit {visits}"


def login(session: Any) -> str:
    session.update(payload())
    return "logged in"


BARE_BODY = "user 12345 roles 2 csrf 43 cart 5 visit 1"


# -- aiohttp ----------------------------------------------------------------------


def aiohttp_app(variant: str, redis_url: str | None) -> Any:
    from aiohttp import web

    app = web.Application()
    if variant == "aiohttp-bare":

        async def bare(request: web.Request) -> web.Response:
            return web.Response(text=BARE_BODY)

        app.router.add_get("/", bare)
        app.router.add_get("/login", bare)
        return app

    if variant.startswith("aiohttp-satchel"):
        import satchel_aiohttp
        from satchel import Keyring, Settings

        store = None
        if variant == "aiohttp-satchel-redis":
            from satchel_redis import AsyncRedisStore

            assert redis_url is not None
            store = AsyncRedisStore.from_url(redis_url)
        satchel_aiohttp.setup(
            app, Settings(keyring=Keyring([SECRET])), store=store, sweep_interval=None
        )
        get_session: Callable[[web.Request], Any] = satchel_aiohttp.get_session
    else:
        import aiohttp_session

        if variant == "aiohttp-session-cookie":
            from aiohttp_session.cookie_storage import EncryptedCookieStorage

            storage: Any = EncryptedCookieStorage(AIOHTTP_SESSION_KEY)
        else:
            import redis.asyncio
            from aiohttp_session.redis_storage import RedisStorage

            assert redis_url is not None
            storage = RedisStorage(redis.asyncio.Redis.from_url(redis_url))
        aiohttp_session.setup(app, storage)
        get_session = aiohttp_session.get_session

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=work(await get_session(request)))

    async def sign_in(request: web.Request) -> web.Response:
        return web.Response(text=login(await get_session(request)))

    app.router.add_get("/", handler)
    app.router.add_get("/login", sign_in)
    return app


def serve_aiohttp(variant: str, port: int, redis_url: str | None) -> None:
    from aiohttp import web

    web.run_app(aiohttp_app(variant, redis_url), host=HOST, port=port, print=None, access_log=None)


# -- Tornado ----------------------------------------------------------------------


def tornado_app(variant: str) -> Any:
    import tornado.web

    if variant == "tornado-bare":

        class Bare(tornado.web.RequestHandler):
            def get(self) -> None:
                self.write(BARE_BODY)

        return tornado.web.Application([(r"/", Bare), (r"/login", Bare)], log_function=_quiet)

    if variant == "tornado-satchel-cookie":
        from satchel import Keyring, Settings
        from satchel_tornado import SessionConfig, SessionMixin

        class Handler(SessionMixin, tornado.web.RequestHandler):
            async def get(self) -> None:
                self.write(work(await self.get_session()))

        class Login(SessionMixin, tornado.web.RequestHandler):
            async def get(self) -> None:
                self.write(login(await self.get_session()))

        config = SessionConfig(Settings(keyring=Keyring([SECRET])), sweep_interval=None)
        return tornado.web.Application(
            [(r"/", Handler), (r"/login", Login)], satchel=config, log_function=_quiet
        )

    # Tornado's own signed cookie, holding the session as JSON.
    class Signed(tornado.web.RequestHandler):
        def get(self) -> None:
            raw = self.get_signed_cookie("session")
            session = json.loads(raw) if raw else {}
            self.write(work(session))
            self.set_signed_cookie("session", json.dumps(session), httponly=True)

    class SignedLogin(tornado.web.RequestHandler):
        def get(self) -> None:
            session: dict[str, Any] = {}
            self.write(login(session))
            self.set_signed_cookie("session", json.dumps(session), httponly=True)

    return tornado.web.Application(
        [(r"/", Signed), (r"/login", SignedLogin)], cookie_secret=SECRET, log_function=_quiet
    )


def _quiet(handler: Any) -> None:
    """No access log, in every Tornado variant alike."""


def serve_tornado(variant: str, port: int) -> None:
    async def main() -> None:
        server = tornado_app(variant).listen(port, address=HOST)
        try:
            await asyncio.Event().wait()
        finally:
            server.stop()

    asyncio.run(main())


# -- WSGI under waitress -------------------------------------------------------------


def wsgi_app(variant: str) -> Any:
    body = BARE_BODY.encode()

    def bare(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(
            "200 OK",
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    if variant == "wsgi-bare":
        return bare

    if variant == "wsgi-satchel-cookie":
        from satchel import Keyring, Settings
        from satchel_wsgi import SessionMiddleware, get_session

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            session = get_session(environ)
            text = login(session) if environ["PATH_INFO"] == "/login" else work(session)
            data = text.encode()
            start_response(
                "200 OK",
                [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))],
            )
            return [data]

        return SessionMiddleware(app, Settings(keyring=Keyring([SECRET])), sweep_interval=None)

    from flask import Flask, session

    flask_app = Flask("bench")
    flask_app.secret_key = SECRET

    @flask_app.get("/")
    def handler() -> str:
        return work(session)

    @flask_app.get("/login")
    def sign_in() -> str:
        return login(session)

    return flask_app


def serve_wsgi(variant: str, port: int, threads: int) -> None:
    from waitress.server import create_server

    create_server(wsgi_app(variant), host=HOST, port=port, threads=threads).run()


# Every variant, in the order the benchmark runs and reports them, with its label.
LABELS: dict[str, str] = {
    "aiohttp-bare": "aiohttp: bare handler",
    "aiohttp-satchel-cookie": "aiohttp: satchel, cookie",
    "aiohttp-satchel-redis": "aiohttp: satchel, Redis",
    "aiohttp-session-cookie": "aiohttp: aiohttp-session, encrypted cookie",
    "aiohttp-session-redis": "aiohttp: aiohttp-session, Redis",
    "tornado-bare": "Tornado: bare handler",
    "tornado-satchel-cookie": "Tornado: satchel, cookie",
    "tornado-signed-cookie": "Tornado: own signed cookie",
    "wsgi-bare": "WSGI (waitress): bare app",
    "wsgi-satchel-cookie": "WSGI (waitress): satchel, cookie",
    "wsgi-flask-session": "WSGI (waitress): Flask session",
}
VARIANTS = tuple(LABELS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url")
    parser.add_argument("--threads", type=int, default=4, help="waitress worker threads")
    args = parser.parse_args(argv)
    if args.variant.startswith("aiohttp"):
        serve_aiohttp(args.variant, args.port, args.redis_url)
    elif args.variant.startswith("tornado"):
        serve_tornado(args.variant, args.port)
    else:
        serve_wsgi(args.variant, args.port, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
