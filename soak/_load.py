"""The load: simulated users, each with its own cookie jar and session.

Each user logs in (a new session, with a regenerated ID), then reads and
writes it for a while (``/counter``, ``/get``, ``/put``, ``/whoami``,
``/flash``), then logs out and starts over, so sessions are created and
deleted all along the run. Every answer is recorded with its start and end
times (``time.monotonic``, one clock for the whole machine on Linux), so a
fault's window can be cut out of the record afterwards.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from email.utils import parsedate_to_datetime
from types import SimpleNamespace

import aiohttp
import attrs

__all__ = ["Answer", "Load", "statuses"]

# The routes a signed-in user calls, and how often, out of 100.
_MIX: tuple[tuple[str, int], ...] = (
    ("/counter", 40),
    ("/get", 25),
    ("/put", 15),
    ("/whoami", 10),
    ("/flash", 5),
    ("/show-flash", 5),
)
_PATHS = [path for path, _ in _MIX]
_WEIGHTS = [weight for _, weight in _MIX]
# Headers kept from answers other than 200, so their shape can be checked.
_KEPT = ("cache-control", "retry-after")
# Routes that save the session even when it is new.
_WRITES = ("/counter", "/put/", "/login/", "/flash/")


@attrs.frozen
class Answer:
    """One request: when it started and ended, and what came back.

    `sent` is when the request's headers went out (the end of connecting);
    `seconds` counts from there, so a connection the server's listen queue
    kept waiting does not count as a slow answer. `status` is 0 when no HTTP
    answer came at all (a refused or dropped connection, or the client's own
    timeout); `error` then says why.
    """

    start: float
    sent: float
    end: float
    path: str
    status: int
    sent_cookie: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    error: str = ""

    @property
    def needs_store(self) -> bool:
        """True if answering needed the store: the request carried a session
        to load, or writes one. A cookieless read is a fresh, empty session,
        which costs no store operation and so answers 200 even in an outage.
        """
        return self.sent_cookie or self.path.startswith(_WRITES)

    @property
    def seconds(self) -> float:
        """How long the answer took, from the request being sent."""
        return self.end - self.sent

    def header(self, name: str) -> str | None:
        """A kept header of a non-200 answer, or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


def statuses(answers: Iterable[Answer]) -> Counter[int]:
    """How many answers had each status (0: no answer)."""
    return Counter(answer.status for answer in answers)


async def _headers_sent(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestHeadersSentParams,
) -> None:
    context.trace_request_ctx.append(time.monotonic())


def _expired(attributes: Sequence[str]) -> bool:
    for attribute in attributes:
        name, _, value = attribute.partition("=")
        name = name.strip().lower()
        if name == "max-age":
            return value.strip().lstrip("-").isdigit() and int(value) <= 0
        if name == "expires":
            try:
                return parsedate_to_datetime(value.strip()).timestamp() <= time.time()
            except (TypeError, ValueError):
                return False
    return False


def _apply_set_cookie(jar: dict[str, str], line: str) -> None:
    pair, *attributes = line.split(";")
    name, _, value = pair.partition("=")
    name, value = name.strip(), value.strip()
    if not name:
        return
    if _expired(attributes):
        jar.pop(name, None)
    else:
        jar[name] = value


class Load:
    """`users` simulated users against `base_url`, until stopped.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8080``.
        users: how many users run at once (each one request at a time).
        think: the mean pause between a user's requests, in seconds.
        request_timeout: the client's own limit on one answer.
        max_requests: a bound on the whole run's requests.
        seed: the seed of the users' choices.

    """

    def __init__(
        self,
        base_url: str,
        *,
        users: int,
        think: float = 0.02,
        request_timeout: float = 30.0,
        max_requests: int = 2_000_000,
        seed: int = 0,
    ) -> None:
        self.base_url = base_url
        self.users = users
        self.think = think
        self.request_timeout = request_timeout
        self.max_requests = max_requests
        self.seed = seed
        self.answers: list[Answer] = []
        # /counter answers that were not one more than the user's last one:
        # a lost or doubled write.
        self.wrong_counters = 0
        self.sessions_started = 0
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Ask every user to stop after its current request."""
        self._stopping.set()

    def _done(self, deadline: float) -> bool:
        return (
            self._stopping.is_set()
            or time.monotonic() >= deadline
            or len(self.answers) >= self.max_requests
        )

    async def run(self, seconds: float) -> None:
        """Run the users until `stop` is called or `seconds` have passed."""
        deadline = time.monotonic() + seconds
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        tracing = aiohttp.TraceConfig()
        tracing.on_request_headers_sent.append(_headers_sent)
        async with aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            trace_configs=[tracing],
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
        ) as http:
            await asyncio.gather(
                *(self._user(http, index, deadline) for index in range(self.users))
            )

    async def _user(self, http: aiohttp.ClientSession, index: int, deadline: float) -> None:
        rng = random.Random(self.seed * 100_003 + index)
        jar: dict[str, str] = {}
        expected: int | None = None
        left = 0
        started = 0
        while not self._done(deadline):
            if left == 0:
                jar.clear()
                started += 1
                path = f"/login/u{index}n{started}"
                left = rng.randint(20, 80)
            elif left == 1:
                path = "/logout"
            else:
                path = rng.choices(_PATHS, _WEIGHTS)[0]
                if path == "/put":
                    path = f"/put/k{rng.randrange(8)}/v{rng.randrange(1000)}"
                elif path == "/flash":
                    path = f"/flash/m{rng.randrange(1000)}"
            status, body = await self._request(http, path, jar)
            if status != 200:
                expected = None  # the write may or may not have landed
            elif path.startswith("/login/"):
                self.sessions_started += 1
                expected = 0
            elif path == "/logout":
                expected = None
            elif path == "/counter":
                value = int(body)
                if expected is not None and value != expected + 1:
                    self.wrong_counters += 1
                expected = value
            left -= 1
            await asyncio.sleep(rng.uniform(0, 2 * self.think))

    async def _request(
        self, http: aiohttp.ClientSession, path: str, jar: dict[str, str]
    ) -> tuple[int, bytes]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if jar else {}
        sent_cookie = bool(jar)
        start = time.monotonic()
        sent = [start]
        try:
            async with http.get(
                self.base_url + path,
                headers=headers,
                allow_redirects=False,
                trace_request_ctx=sent,
            ) as response:
                body = await response.read()
                for line in response.headers.getall("Set-Cookie", ()):
                    _apply_set_cookie(jar, line)
                kept: tuple[tuple[str, str], ...] = ()
                if response.status != 200:
                    kept = tuple(
                        (name, response.headers[name]) for name in _KEPT if name in response.headers
                    )
                self.answers.append(
                    Answer(
                        start, sent[-1], time.monotonic(), path, response.status, sent_cookie, kept
                    )
                )
                return response.status, body
        except (aiohttp.ClientError, TimeoutError) as error:
            self.answers.append(
                Answer(
                    start,
                    sent[-1],
                    time.monotonic(),
                    path,
                    0,
                    sent_cookie,
                    error=f"{type(error).__name__}: {error}",
                )
            )
            return 0, b""
