"""Helpers deep in an application's call stack: none is passed a request.

Every framework's test app calls these from its views; they reach the
session and the cookies through satchel's request-scoped accessors alone.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable

import satchel
from satchel import NoRequestContext, ProtocolError


def login(user: str) -> str:
    """Set the user through the synchronous accessor."""
    satchel.current_session()["user"] = user
    return "ok"


async def alogin(user: str) -> str:
    """Set the user through the awaitable accessor."""
    (await satchel.load_current_session())["user"] = user
    return "ok"


def whoami() -> str:
    """The user, or ``""``."""
    return str(satchel.current_session().get("user", ""))


async def awhoami() -> str:
    """The user, or ``""``, loading the session if need be."""
    return str((await satchel.load_current_session()).get("user", ""))


async def awhoami_in_a_task() -> str:
    """The user, as a task the handler creates finds it (it copies the context)."""
    return await asyncio.get_running_loop().create_task(awhoami())


def whoami_in_threads() -> str:
    """What a thread started with the request's context copied finds, and
    what a plain thread (which starts with an empty context) finds.
    """
    found: dict[str, str] = {}

    def run(key: str, target: Callable[[], str]) -> None:
        found[key] = outcome(target)

    context = contextvars.copy_context()
    threads = [
        threading.Thread(target=run, args=("copied", lambda: context.run(whoami))),
        threading.Thread(target=run, args=("plain", whoami)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return f"{found['copied']}|{found['plain']}"


def late() -> str:
    """Called after the response's headers have left: what a session write
    and a cookie set raise.
    """
    return f"{outcome(write_user)}|{outcome(lambda: satchel.set_response_cookie('late', '1'))}"


def write_user() -> str:
    satchel.current_session()["user"] = "late"
    return "written"


def cookies() -> str:
    """Set a cookie on the response; the request's ``colour`` cookie."""
    satchel.set_response_cookie("seen", "yes", path="/")
    return satchel.current_request_cookies().get("colour", "")


def untouched() -> str:
    """Whether a request is being served; touches neither session nor cookies."""
    return str(satchel.has_request_context())


def outcome(call: Callable[[], object]) -> str:
    """The result of `call`, or the name of the satchel error it raised."""
    try:
        return str(call())
    except (NoRequestContext, ProtocolError) as error:
        return type(error).__name__


async def aoutcome(call: Callable[[], object]) -> str:
    """`outcome` for a coroutine function."""
    try:
        return str(await call())  # type: ignore[misc]
    except (NoRequestContext, ProtocolError) as error:
        return type(error).__name__


def probe_outside() -> str:
    """What code that no request started finds: the error of each accessor."""
    return outcome(satchel.current_session) + "|" + outcome(satchel.current_request_cookies)


async def aprobe_outside() -> str:
    """`probe_outside` on an event loop, with the awaitable accessor too."""
    return f"{probe_outside()}|{await aoutcome(satchel.load_current_session)}"
