"""In-process cost of a session per request, satchel against its peers.

No HTTP: each variant opens a realistic session cookie, changes the session
and produces the response cookie, the way its library does it per request.
Run with ``make bench`` (or ``python bench/inprocess.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextvars
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    OTHER_COOKIES,
    SECRET,
    Measure,
    change,
    interleaved,
    machine,
    median,
    payload,
    sync_measure,
    verdict,
    write_json,
)

from satchel import (
    Keyring,
    MemoryStore,
    RequestContext,
    SessionProtocol,
    Settings,
    enter_request,
    exit_request,
    run_ops,
)
from satchel.testing import Browser, ManualClock

BOUND = "satchel's formats and checks, no exchange"
UNTOUCHED_BOUND = "satchel untouched request, context bound"
EMPTY_CALL = "empty call"
CORE_BOUND = "bind + unbind (aiohttp, ASGI, WSGI)"
TORNADO_BARE = "Tornado: the context copy its task makes anyway"
TORNADO_BOUND = "Tornado: the copy, with the request bound in it"
FLASK_BOUND = "Flask: bind in open_session, unbind in save_session"

# -- satchel --------------------------------------------------------------------


def satchel_variants() -> dict[str, Measure]:
    clock = ManualClock()
    cookie = SessionProtocol(Settings(keyring=Keyring([SECRET])))
    browser = Browser(cookie, clock)
    browser.request(lambda session: session.update(payload()))
    header = f"{browser.cookie_header()}; {OTHER_COOKIES}"

    def cookie_changed() -> object:
        exchange = cookie.begin(header, now=clock())
        exchange.open()
        change(exchange.session)
        exchange.finish()
        return exchange.outcome.headers

    def cookie_read_only() -> object:
        exchange = cookie.begin(header, now=clock())
        exchange.open()
        exchange.session.get("user_id")
        exchange.finish()
        return exchange.outcome.headers

    def untouched() -> object:
        exchange = cookie.begin(header, now=clock())
        exchange.finish()
        return exchange.outcome.headers

    # What every adapter adds to each request for the request-scoped context:
    # its per-request state (made anyway) bound and unbound around the request.
    state = _BenchContext()

    def untouched_bound() -> object:
        exchange = cookie.begin(header, now=clock())
        token = enter_request(state)
        try:
            exchange.finish()
        finally:
            exit_request(token)
        return exchange.outcome.headers

    server = SessionProtocol(Settings(keyring=Keyring([SECRET])), storage="server")
    store = MemoryStore()
    server_browser = Browser(server, clock, store)
    server_browser.request(lambda session: session.update(payload()))
    server_header = f"{server_browser.cookie_header()}; {OTHER_COOKIES}"

    def server_changed() -> object:
        exchange = server.begin(server_header, now=clock())
        exchange.open()
        run_ops(exchange, store)
        change(exchange.session)
        exchange.finish()
        run_ops(exchange, store)
        return exchange.outcome.headers

    return {
        "satchel cookie, changed": sync_measure(cookie_changed),
        "satchel cookie, read only": sync_measure(cookie_read_only),
        "satchel memory store, changed": sync_measure(server_changed),
        "satchel untouched request": sync_measure(untouched),
        UNTOUCHED_BOUND: sync_measure(untouched_bound),
    }


# -- the request-scoped context, alone ---------------------------------------------------


class _BenchContext(RequestContext):
    """A `RequestContext` that is never asked anything: only bound and unbound."""

    __slots__ = ()

    def get_session(self) -> Any:
        raise NotImplementedError

    async def load_session(self) -> Any:
        raise NotImplementedError

    @property
    def request_cookies(self) -> Any:
        raise NotImplementedError

    def set_cookie(self, name: str, value: str, **options: Any) -> None:
        raise NotImplementedError

    def delete_cookie(self, name: str, **attributes: Any) -> None:
        raise NotImplementedError


def context_variants() -> dict[str, Measure]:
    """What each adapter does per request for the request-scoped context, alone.

    - the core binding (aiohttp, ASGI, WSGI): ``enter_request`` and
      ``exit_request`` in a ``try``/``finally`` around the request;
    - Tornado: the request's task starts in a copy of the context with the
      handler bound in it. The task copies the context anyway when it is made
      without one, so what is added is binding in the copy: measured as copy
      and bind against the copy alone;
    - Flask: the binding in ``open_session`` and the unbinding in
      ``save_session`` (with its check for a streamed response).

    Each is measured with its call from the benchmark loop; ``empty call`` is
    that call alone, subtracted in the results.
    """
    state = _BenchContext()

    def empty() -> None:
        return None

    def bound() -> None:
        token = enter_request(state)
        try:
            pass
        finally:
            exit_request(token)

    handler: Any = object()

    def tornado_bare() -> None:
        contextvars.copy_context()

    def tornado_bound() -> None:
        contextvars.copy_context().run(enter_request, handler)

    variants = {
        EMPTY_CALL: sync_measure(empty),
        CORE_BOUND: sync_measure(bound),
        TORNADO_BARE: sync_measure(tornado_bare),
        TORNADO_BOUND: sync_measure(tornado_bound),
    }
    try:
        from flask import Flask, Response

        from satchel_flask import Satchel
        from satchel_flask._session import FlaskSession
    except ImportError:
        return variants  # satchel-flask not installed: no Flask row

    extension = Satchel(
        Flask("bench"), settings=Settings(keyring=Keyring([SECRET])), sweep_interval=None
    )
    session = FlaskSession(extension.runtime.begin(None), extension)
    response = Response("ok")

    def flask_bound() -> None:
        session._token = enter_request(session)  # open_session
        if response.is_streamed:  # save_session
            raise AssertionError("a plain response")
        token, session._token = session._token, None
        try:
            pass
        finally:
            if token is not None:
                exit_request(token)

    variants[FLASK_BOUND] = sync_measure(flask_bound)
    return variants


def floor_variant() -> Measure:
    """AES-256-GCM open + seal of the msgpack payload, base64url: nothing else."""
    aead = AESGCM(os.urandom(32))
    nonce = os.urandom(12)
    # One Packer, reused: msgpack.packb builds a new one per call.
    packer = msgpack.Packer()
    sealed = base64.urlsafe_b64encode(nonce + aead.encrypt(nonce, packer.pack(payload()), None))
    value = sealed.rstrip(b"=")

    def floor() -> object:
        raw = base64.urlsafe_b64decode(value + b"=" * (-len(value) % 4))
        data = msgpack.unpackb(aead.decrypt(raw[:12], raw[12:], None))
        change(data)
        fresh = os.urandom(12)
        return base64.urlsafe_b64encode(fresh + aead.encrypt(fresh, packer.pack(data), None))

    return sync_measure(floor)


def bound_variant() -> Measure:
    """satchel's own formats and checks in a straight line, without the exchange.

    Parses the whole Cookie header, opens the sealed value (canonical
    base64url, AES-256-GCM with the cookie name bound), unpacks the record
    with its checks, checks the timeouts, checks the changed data's nested
    keys, packs and seals the record and renders the ``Set-Cookie`` text:
    the least satchel's cookie format and checks can cost, so what
    `satchel cookie, changed` adds above it is the exchange's own
    bookkeeping. It calls the core's own functions for each step.
    """
    from satchel._cookies import parse_cookie_pairs
    from satchel._exchange import _expiry
    from satchel._record import EMPTY_MAP_BLOB, Record, check_map, pack_map, pack_record
    from satchel._seal import Sealer

    clock = ManualClock()
    settings = Settings(keyring=Keyring([SECRET]))
    protocol = SessionProtocol(settings)
    browser = Browser(protocol, clock)
    browser.request(lambda session: session.update(payload()))
    header = f"{browser.cookie_header()}; {OTHER_COOKIES}"
    sealer = Sealer(settings.keyring, settings.cookie_name)
    name = settings.cookie_name
    attributes = settings.attributes()

    def bound() -> object:
        value = next(v for k, v in parse_cookie_pairs(header) if k == name)
        opened = sealer.open(value)
        assert opened is not None
        record = Record.unpack(opened[0], authenticated=True)  # as the exchange does
        assert record is not None
        now = clock()
        if _expiry(settings, record.created_at, record.last_access, now) is not None:
            raise AssertionError("the benchmark's session ended")
        data = record.data
        change(data)
        new_blob = pack_map(data, check=False)
        if new_blob != record.data_blob:
            check_map(data)
        packed = pack_record(
            created_at=record.created_at,
            last_access=now,
            flash_blob=EMPTY_MAP_BLOB,
            data_blob=new_blob,
        )
        return f"{name}={sealer.seal(packed)}{attributes}"

    return sync_measure(bound)


# -- peers --------------------------------------------------------------------------


def aiohttp_session_variant() -> Measure:
    """aiohttp-session's EncryptedCookieStorage (Fernet + JSON): load, change, save.

    Its own load_session/save_session run unchanged; the request is a minimal
    stand-in that parses the Cookie header with aiohttp's own parser on every
    request, exactly as ``web.Request.cookies`` does, without building a whole
    request object (whose cost belongs to aiohttp, not to sessions).
    """
    from aiohttp import web
    from aiohttp._cookie_helpers import parse_cookie_header
    from aiohttp_session import Session
    from aiohttp_session.cookie_storage import EncryptedCookieStorage
    from cryptography.fernet import Fernet

    storage = EncryptedCookieStorage(base64.urlsafe_b64decode(Fernet.generate_key()))
    loop = asyncio.new_event_loop()
    seed = Session(None, data={"session": payload(), "created": 1_700_000_000}, new=True)
    value = storage._fernet.encrypt(json.dumps(storage._get_session_data(seed)).encode()).decode()
    header = f"AIOHTTP_SESSION={value}; {OTHER_COOKIES}"

    class Request:
        @property
        def cookies(self) -> dict[str, str]:
            return {name: morsel.value for name, morsel in parse_cookie_header(header)}

    request: Any = Request()
    response = web.Response()

    async def many(number: int) -> float:
        start = loop.time()
        for _ in range(number):
            session = await storage.load_session(request)
            change(session)
            await storage.save_session(request, response, session)
        return loop.time() - start

    def measure(number: int) -> float:
        return loop.run_until_complete(many(number))

    return measure


def starlette_variant() -> Measure:
    """Starlette's SessionMiddleware (itsdangerous + JSON + base64) around a tiny app."""
    from itsdangerous import TimestampSigner
    from starlette.middleware.sessions import SessionMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        change(scope["session"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = SessionMiddleware(app, secret_key=SECRET)
    signer = TimestampSigner(SECRET)
    value = signer.sign(base64.b64encode(json.dumps(payload()).encode())).decode()
    header = f"session={value}; {OTHER_COOKIES}".encode("latin-1")
    loop = asyncio.new_event_loop()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    async def many(number: int) -> float:
        start = loop.time()
        for _ in range(number):
            scope = {
                "type": "http",
                "method": "GET",
                "path": "/",
                "headers": [(b"cookie", header)],
            }
            await middleware(scope, receive, send)
        return loop.time() - start

    def measure(number: int) -> float:
        return loop.run_until_complete(many(number))

    return measure


def flask_variant() -> Measure:
    """Flask's default session: its signing serializer (itsdangerous + tagged JSON)."""
    from flask import Flask

    app = Flask("bench")
    app.secret_key = SECRET
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    value = serializer.dumps(payload())

    def flask() -> object:
        data = serializer.loads(value, max_age=31 * 86400)
        change(data)
        return serializer.dumps(data)

    return sync_measure(flask)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.3, help="per variant per round")
    parser.add_argument("--chart", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)

    variants: dict[str, Measure] = {
        "floor (AES-GCM + msgpack + base64url)": floor_variant(),
        BOUND: bound_variant(),
    }
    variants.update(satchel_variants())
    peers: dict[str, Callable[[], Measure]] = {
        "aiohttp-session encrypted cookie": aiohttp_session_variant,
        "Starlette signed cookie": starlette_variant,
        "Flask signed cookie": flask_variant,
    }
    missing = []
    for name, build in peers.items():
        try:
            variants[name] = build()
        except ImportError as error:
            missing.append(f"{name} ({error.name} not installed)")

    samples = interleaved(variants, args.rounds, args.seconds)
    medians = {name: median(values) for name, values in samples.items()}
    context_samples = interleaved(context_variants(), args.rounds, args.seconds)
    context = {name: median(values) for name, values in context_samples.items()}
    floor = medians["floor (AES-GCM + msgpack + base64url)"]
    cookie = medians["satchel cookie, changed"]

    print(f"\nIn-process, per request: median of {args.rounds} interleaved rounds\n")
    print(f"{'variant':42s} {'µs':>8s} {'x floor':>8s} {'x satchel cookie':>17s}")
    for name, seconds in medians.items():
        print(f"{name:42s} {seconds * 1e6:8.2f} {seconds / floor:8.2f} {seconds / cookie:17.2f}")
    for item in missing:
        print(f"skipped: {item}")

    # What the request-scoped context adds per request, by adapter, net of
    # the benchmark loop's own call.
    added = {
        "aiohttp, ASGI, WSGI": context[CORE_BOUND] - context[EMPTY_CALL],
        "Tornado": context[TORNADO_BOUND] - context[TORNADO_BARE],
    }
    if FLASK_BOUND in context:
        added["Flask"] = context[FLASK_BOUND] - context[EMPTY_CALL]
    pair = medians[UNTOUCHED_BOUND] - medians["satchel untouched request"]
    print("\nThe request-scoped context, what it adds to an untouched request (µs)")
    for name, seconds in added.items():
        print(f"  {name:42s} {seconds * 1e6:8.3f}")
    print(f"  {'(the pair of untouched rows above differ by)':42s} {pair * 1e6:8.3f}")

    targets = [
        (
            "cookie begin → finish (changed) ≤ 1.5 x floor",
            cookie / floor,
            cookie / floor <= 1.5,
        ),
        (
            "untouched request < 5 µs",
            medians["satchel untouched request"] * 1e6,
            medians["satchel untouched request"] < 5e-6,
        ),
        *(
            (f"request-scoped context on {name} ≤ 0.2 µs", seconds * 1e6, seconds <= 0.2e-6)
            for name, seconds in added.items()
        ),
    ]
    print(
        f"\nsatchel's formats and checks alone cost {medians[BOUND] / floor:.2f} x the floor; "
        f"the exchange adds {(cookie - medians[BOUND]) * 1e6:.2f} µs to a changed request"
    )
    print("\nTargets")
    for label, value, met in targets:
        print(f"  {label}: {value:.2f} — {verdict(met)}")

    path = write_json(
        "inprocess",
        {
            "machine": machine(),
            "rounds": args.rounds,
            "median_seconds": medians,
            "samples_seconds": samples,
            "context_median_seconds": context,
            "context_added_seconds": added,
            "targets": [{"target": t, "value": v, "met": m} for t, v, m in targets],
        },
    )
    print(f"\nwrote {path}")
    if args.chart:
        chart(medians, floor)
    return 0


def chart(medians: dict[str, float], floor: float) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no chart")
        return
    names = list(medians)[::-1]
    values = [medians[name] * 1e6 for name in names]
    figure, axes = plt.subplots(figsize=(9, 4.5))
    bars = axes.barh(
        names, values, color=["#4c72b0" if "satchel" in n else "#999999" for n in names]
    )
    axes.axvline(floor * 1e6, color="#c44e52", linestyle="--", linewidth=1, label="floor")
    axes.axvline(floor * 1.5e6, color="#dd8452", linestyle=":", linewidth=1, label="1.5 x floor")
    axes.bar_label(bars, fmt="%.1f µs", padding=3, fontsize=8)
    axes.set_xlim(right=max(values) * 1.15)  # room for the last bar's label
    axes.set_xlabel("µs per request (median)")
    axes.set_title("Session cost per request, in process")
    axes.legend(loc="upper right")
    figure.tight_layout()
    from _common import RESULTS

    path = RESULTS / "inprocess.png"
    figure.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
