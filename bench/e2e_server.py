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

aiohttp and Tornado run their own servers; the WSGI and Flask variants run
under waitress; the ASGI (Starlette) and Litestar variants under uvicorn.
Access logs are off everywhere alike. A server variant with Redis is given a
Redis URL of its own (its own database number on the benchmark's server).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
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

    if variant == "aiohttp-floor-redis":
        return floor_app(redis_url)

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


def resp(*parts: bytes) -> bytes:
    """One command in RESP, packed once, ahead of the requests."""
    return b"*%d\r\n" % len(parts) + b"".join(
        b"$%d\r\n%s\r\n" % (len(part), part) for part in parts
    )


def stored_record() -> bytes:
    """What satchel stores for the benchmark's logged-in session: its size
    is the floor's value size."""
    from satchel import Keyring, Load, Missing, Op, Result, Save, Saved, SessionProtocol, Settings
    from satchel.testing import Browser, ManualClock

    saved: list[bytes] = []

    class Capture:
        def execute(self, op: Op) -> Result:
            if isinstance(op, Save):
                saved.append(op.value)
                return Saved(revision=op.new_revision)
            assert isinstance(op, Load)
            return Missing()

    protocol = SessionProtocol(Settings(keyring=Keyring([SECRET])), storage="server")
    Browser(protocol, ManualClock(), Capture()).request(login)
    return saved[-1]


def floor_app(redis_url: str | None) -> Any:
    """The physical floor of a Redis-backed session.

    Per request, the two round trips a changed session costs: a ``GET``,
    then the compare-and-set ``EVALSHA`` with satchel's script and arguments
    of the same shape and size; each is one write and one read on a plain
    asyncio connection, with the commands packed once at start-up. No
    client library, no cookie, no session: what is left is aiohttp, asyncio
    and the sockets.
    """
    import struct
    from urllib.parse import urlsplit

    from aiohttp import web

    from satchel_redis._shared import UPDATE_SCRIPT

    assert redis_url is not None
    url = urlsplit(redis_url)
    database = url.path.strip("/").encode() or b"0"
    key = b"floor:{" + b"k" * 43 + b"}"
    header = struct.pack(">BQ", 1, 1)
    value = header + stored_record()
    get = resp(b"GET", key)
    commands: dict[str, bytes] = {}
    visits = itertools.count(1)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        writer.write(resp(b"SELECT", database))
        if await reader.readline() != b"+OK\r\n":
            raise RuntimeError("SELECT failed")
        return reader, writer

    async def start(app: web.Application) -> None:
        reader, writer = await connect()
        writer.write(resp(b"SET", key, value) + resp(b"SCRIPT", b"LOAD", UPDATE_SCRIPT.encode()))
        if await reader.readline() != b"+OK\r\n":
            raise RuntimeError("SET failed")
        length = int((await reader.readline())[1:])
        sha = (await reader.readexactly(length + 2))[:-2]
        commands["cas"] = resp(b"EVALSHA", sha, b"1", key, header, value, b"1800000")
        idle.append((reader, writer))

    async def handler(request: web.Request) -> web.Response:
        reader, writer = idle.pop() if idle else await connect()
        writer.write(get)
        line = await reader.readline()
        if line[:1] != b"$" or line == b"$-1\r\n":
            raise RuntimeError(f"GET answered {line!r}")
        await reader.readexactly(int(line[1:]) + 2)
        writer.write(commands["cas"])
        if await reader.readline() != b":1\r\n":
            raise RuntimeError("the compare-and-set did not write")
        idle.append((reader, writer))
        # The body changes as a session handler's does, one count per request.
        return web.Response(text=f"{BARE_BODY[:-1]}{next(visits)}")

    async def sign_in(request: web.Request) -> web.Response:
        # A cookie, as the benchmark's log-in step expects from every variant.
        response = web.Response(text="logged in")
        response.set_cookie("floor", "1")
        return response

    app = web.Application()
    app.on_startup.append(start)
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


def wsgi_app(variant: str, redis_url: str | None) -> Any:
    body = BARE_BODY.encode()

    def bare(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(
            "200 OK",
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    if variant == "wsgi-bare":
        return bare

    if variant.startswith("wsgi-satchel"):
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

        store = None
        if variant == "wsgi-satchel-redis":
            from satchel_redis import RedisStore

            assert redis_url is not None
            store = RedisStore.from_url(redis_url)
        return SessionMiddleware(
            app, Settings(keyring=Keyring([SECRET])), store=store, sweep_interval=None
        )

    raise ValueError(variant)


def serve_wsgi(app: Any, port: int, threads: int) -> None:
    from waitress.server import create_server

    create_server(app, host=HOST, port=port, threads=threads).run()


# -- Flask under waitress ----------------------------------------------------------


def flask_app(variant: str, redis_url: str | None) -> Any:
    import flask

    app = flask.Flask("bench")
    if variant == "flask-bare":
        # No secret key: Flask then gives each request its null session and
        # does not try to verify the opaque cookie the bare variants are sent.

        @app.get("/")
        @app.get("/login")
        def bare() -> str:
            return BARE_BODY

        return app

    app.secret_key = SECRET
    if variant.startswith("flask-satchel"):
        from satchel import Keyring, Settings
        from satchel_flask import Satchel

        store = None
        if variant == "flask-satchel-redis":
            from satchel_redis import RedisStore

            assert redis_url is not None
            store = RedisStore.from_url(redis_url)
        Satchel(app, settings=Settings(keyring=Keyring([SECRET])), store=store, sweep_interval=None)
    elif variant == "flask-session-redis":
        import redis
        from flask_session import Session

        assert redis_url is not None
        # Flask-Session's defaults otherwise (msgpack, permanent, "session:" prefix).
        app.config["SESSION_TYPE"] = "redis"
        app.config["SESSION_REDIS"] = redis.Redis.from_url(redis_url)
        Session(app)
    # else "flask-own-cookie": Flask's default SecureCookieSessionInterface.

    @app.get("/")
    def handler() -> str:
        return work(flask.session)

    @app.get("/login")
    def sign_in() -> str:
        return login(flask.session)

    return app


# -- ASGI (Starlette) and Litestar under uvicorn -----------------------------------------


# What satchel's sealed session cookie weighs for the realistic payload: the
# floor below sends a constant cookie of this length.
COOKIE_FLOOR_VALUE_LENGTH = 470


def cookie_floor_app() -> Any:
    """The floor of a cookie session under Starlette: a pure ASGI middleware
    that parses nothing, seals nothing and adds one constant ``Set-Cookie`` of
    the length satchel's sealed cookie has; the handler works on a plain dict.

    What any cookie-storage middleware pays under this server before doing
    anything of its own: the extra layer, the larger request and response.
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    value = b"x" * COOKIE_FLOOR_VALUE_LENGTH
    header = (b"set-cookie", b"session=" + value + b"; HttpOnly; Path=/; SameSite=Lax; Secure")

    async def handler(request: Request) -> PlainTextResponse:
        return PlainTextResponse(work(request.scope["floor.session"]))

    async def sign_in(request: Request) -> PlainTextResponse:
        return PlainTextResponse(login(request.scope["floor.session"]))

    inner = Starlette(routes=[Route("/", handler), Route("/login", sign_in)])
    # One realistic session, copied per request as a decoder would build it.
    template = payload()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        scope["floor.session"] = {**template, "cart": [dict(i) for i in template["cart"]]}

        async def send_with_cookie(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        await inner(scope, receive, send_with_cookie)

    return app


def starlette_app(variant: str, redis_url: str | None) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    if variant == "asgi-bare":

        async def bare(request: Request) -> PlainTextResponse:
            return PlainTextResponse(BARE_BODY)

        return Starlette(routes=[Route("/", bare), Route("/login", bare)])

    get_session: Callable[[Request], Any]
    if variant.startswith("asgi-satchel"):
        import satchel_asgi
        from satchel import Keyring, Settings

        get_session = satchel_asgi.load_session
    elif variant == "asgi-starlette-cookie":

        async def get_session(request: Request) -> Any:
            return request.session

    else:
        import starsessions

        async def get_session(request: Request) -> Any:
            await starsessions.load_session(request)
            return request.session

    async def handler(request: Request) -> PlainTextResponse:
        return PlainTextResponse(work(await get_session(request)))

    async def sign_in(request: Request) -> PlainTextResponse:
        return PlainTextResponse(login(await get_session(request)))

    routes = [Route("/", handler), Route("/login", sign_in)]
    if variant.startswith("asgi-satchel"):
        store = None
        if variant == "asgi-satchel-redis":
            from satchel_redis import AsyncRedisStore

            assert redis_url is not None
            store = AsyncRedisStore.from_url(redis_url)
        return satchel_asgi.SessionMiddleware(
            Starlette(routes=routes),
            Settings(keyring=Keyring([SECRET])),
            store=store,
            sweep_interval=None,
        )
    from starlette.middleware import Middleware

    if variant == "asgi-starlette-cookie":
        from starlette.middleware.sessions import SessionMiddleware

        return Starlette(
            routes=routes, middleware=[Middleware(SessionMiddleware, secret_key=SECRET)]
        )
    import starsessions

    session_store: Any
    if variant == "asgi-starsessions-cookie":
        session_store = starsessions.CookieStore(secret_key=SECRET)
    else:
        import redis.asyncio
        from starsessions.stores.redis import RedisStore

        assert redis_url is not None
        session_store = RedisStore(connection=redis.asyncio.Redis.from_url(redis_url))
    # starsessions marks its cookie Secure by default; the load generator
    # sends cookies over plain HTTP regardless, so the default is kept.
    return Starlette(
        routes=routes, middleware=[Middleware(starsessions.SessionMiddleware, store=session_store)]
    )


# Litestar's client-side session takes a raw AES-GCM key of 16, 24 or 32 bytes.
LITESTAR_KEY = SECRET.encode()[:32]


def litestar_app(variant: str, redis_url: str | None) -> Any:
    from litestar import Litestar, Request, get

    if variant == "litestar-bare":

        @get(["/", "/login"], sync_to_thread=False)
        def bare() -> str:
            return BARE_BODY

        return Litestar(route_handlers=[bare])

    if variant.startswith("litestar-satchel"):
        import satchel_asgi
        from satchel import Keyring, Settings

        @get("/")
        async def handler(request: Request[Any, Any, Any]) -> str:
            return work(await satchel_asgi.load_session(request))

        @get("/login")
        async def sign_in(request: Request[Any, Any, Any]) -> str:
            return login(await satchel_asgi.load_session(request))

        store = None
        if variant == "litestar-satchel-redis":
            from satchel_redis import AsyncRedisStore

            assert redis_url is not None
            store = AsyncRedisStore.from_url(redis_url)
        # Wrapped around the whole app, as docs/adapters/asgi.md recommends.
        return satchel_asgi.SessionMiddleware(
            Litestar(route_handlers=[handler, sign_in]),
            Settings(keyring=Keyring([SECRET])),
            store=store,
            sweep_interval=None,
        )

    @get("/", sync_to_thread=False)
    def own(request: Request[Any, Any, Any]) -> str:
        return work(request.session)

    @get("/login", sync_to_thread=False)
    def own_login(request: Request[Any, Any, Any]) -> str:
        session: dict[str, Any] = {}
        text = login(session)
        request.set_session(session)
        return text

    if variant == "litestar-own-cookie":
        from litestar.middleware.session.client_side import CookieBackendConfig

        config: Any = CookieBackendConfig(secret=LITESTAR_KEY)
        return Litestar(route_handlers=[own, own_login], middleware=[config.middleware])

    import redis.asyncio
    from litestar.middleware.session.server_side import ServerSideSessionConfig
    from litestar.stores.redis import RedisStore as LitestarRedisStore

    assert redis_url is not None
    config = ServerSideSessionConfig()
    sessions = LitestarRedisStore(
        redis.asyncio.Redis.from_url(redis_url), handle_client_shutdown=True
    )
    return Litestar(
        route_handlers=[own, own_login],
        middleware=[config.middleware],
        stores={"sessions": sessions},
    )


def serve_uvicorn(app: Any, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=HOST, port=port, access_log=False, log_level="warning")


# Every variant, in the order the benchmark runs and reports them, with its label.
LABELS: dict[str, str] = {
    "aiohttp-bare": "aiohttp: bare handler",
    "aiohttp-satchel-cookie": "aiohttp: satchel, cookie",
    "aiohttp-satchel-redis": "aiohttp: satchel, Redis",
    "aiohttp-session-cookie": "aiohttp: aiohttp-session, encrypted cookie",
    "aiohttp-session-redis": "aiohttp: aiohttp-session, Redis",
    "aiohttp-floor-redis": "aiohttp: the floor, GET + compare-and-set on a plain socket",
    "tornado-bare": "Tornado: bare handler",
    "tornado-satchel-cookie": "Tornado: satchel, cookie",
    "tornado-signed-cookie": "Tornado: own signed cookie",
    "wsgi-bare": "WSGI (waitress): bare app",
    "wsgi-satchel-cookie": "WSGI (waitress): satchel, cookie",
    "wsgi-satchel-redis": "WSGI (waitress): satchel, Redis",
    "asgi-bare": "Starlette (uvicorn): bare handler",
    "asgi-satchel-cookie": "Starlette (uvicorn): satchel-asgi, cookie",
    "asgi-floor-cookie": "Starlette (uvicorn): the floor, a constant cookie of satchel's size",
    "asgi-satchel-redis": "Starlette (uvicorn): satchel-asgi, Redis",
    "asgi-starlette-cookie": "Starlette (uvicorn): Starlette SessionMiddleware, signed cookie",
    "asgi-starsessions-cookie": "Starlette (uvicorn): starsessions, signed cookie",
    "asgi-starsessions-redis": "Starlette (uvicorn): starsessions, Redis",
    "litestar-bare": "Litestar (uvicorn): bare handler",
    "litestar-satchel-cookie": "Litestar (uvicorn): satchel-asgi, cookie",
    "litestar-satchel-redis": "Litestar (uvicorn): satchel-asgi, Redis",
    "litestar-own-cookie": "Litestar (uvicorn): own client-side session, encrypted cookie",
    "litestar-own-redis": "Litestar (uvicorn): own server-side session, Redis",
    "flask-bare": "Flask (waitress): bare view",
    "flask-satchel-cookie": "Flask (waitress): satchel-flask, cookie",
    "flask-satchel-redis": "Flask (waitress): satchel-flask, Redis",
    "flask-own-cookie": "Flask (waitress): Flask's own signed cookie",
    "flask-session-redis": "Flask (waitress): Flask-Session, Redis",
}
VARIANTS = tuple(LABELS)
# What a variant needs beyond satchel's own packages: (module, distribution).
REQUIRES: dict[str, tuple[tuple[str, str], ...]] = {
    "aiohttp-session-cookie": (("aiohttp_session", "aiohttp-session"),),
    "aiohttp-session-redis": (("aiohttp_session", "aiohttp-session"),),
    "wsgi-bare": (("waitress", "waitress"),),
    "wsgi-satchel-cookie": (("waitress", "waitress"),),
    "wsgi-satchel-redis": (("waitress", "waitress"),),
    "asgi-starsessions-cookie": (("starsessions", "starsessions"),),
    "asgi-starsessions-redis": (("starsessions", "starsessions"),),
    "litestar-bare": (("litestar", "litestar"),),
    "litestar-satchel-cookie": (("litestar", "litestar"),),
    "litestar-satchel-redis": (("litestar", "litestar"),),
    "litestar-own-cookie": (("litestar", "litestar"),),
    "litestar-own-redis": (("litestar", "litestar"),),
    "flask-session-redis": (("flask_session", "Flask-Session"),),
}
for _variant in VARIANTS:
    _needs = list(REQUIRES.get(_variant, ()))
    if _variant.startswith(("asgi", "litestar")):
        _needs += [("uvicorn", "uvicorn"), ("starlette", "starlette")]
    if _variant.startswith("flask"):
        _needs += [("flask", "flask"), ("waitress", "waitress")]
    REQUIRES[_variant] = tuple(dict.fromkeys(_needs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url")
    parser.add_argument("--threads", type=int, default=4, help="waitress worker threads")
    args = parser.parse_args(argv)
    variant = args.variant
    if variant.startswith("aiohttp"):
        serve_aiohttp(variant, args.port, args.redis_url)
    elif variant.startswith("tornado"):
        serve_tornado(variant, args.port)
    elif variant.startswith("wsgi"):
        serve_wsgi(wsgi_app(variant, args.redis_url), args.port, args.threads)
    elif variant.startswith("flask"):
        serve_wsgi(flask_app(variant, args.redis_url), args.port, args.threads)
    elif variant == "asgi-floor-cookie":
        serve_uvicorn(cookie_floor_app(), args.port)
    elif variant.startswith("asgi"):
        serve_uvicorn(starlette_app(variant, args.redis_url), args.port)
    else:
        serve_uvicorn(litestar_app(variant, args.redis_url), args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
