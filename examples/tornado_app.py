"""A Tornado app with satchel sessions: a login route and a counter.

Run it with a secret made by `python -m satchel keygen`:
    SATCHEL_SECRET=... python examples/tornado_app.py
"""

from __future__ import annotations

import asyncio
import os

import tornado.web

from satchel import AsyncMemoryStore, Keyring, Settings
from satchel_tornado import SessionConfig, SessionMixin, start_sweeper


class Login(SessionMixin, tornado.web.RequestHandler):
    """``GET /login/{user}``: remember who logged in."""

    async def get(self, user: str) -> None:
        """Log `user` in, with a new session ID as every login should."""
        session = await self.get_session()
        session.regenerate()
        session["user"] = user
        self.write(f"Logged in as {user}")


class Counter(SessionMixin, tornado.web.RequestHandler):
    """``GET /``: count this session's visits."""

    async def get(self) -> None:
        """Increment and show the counter kept in the session."""
        session = await self.get_session()
        session["count"] = session.get("count", 0) + 1
        self.write(f"{session.get('user', 'anonymous')} has visited {session['count']} times")


def make_app() -> tornado.web.Application:
    """The Application, its session configuration under the ``satchel`` setting."""
    settings = Settings(keyring=Keyring([os.environ["SATCHEL_SECRET"]]))
    config = SessionConfig(settings, store=AsyncMemoryStore())
    return tornado.web.Application([(r"/login/([^/]+)", Login), (r"/", Counter)], satchel=config)


async def main() -> None:
    """Serve on 127.0.0.1:8888, sweeping expired sessions every minute."""
    app = make_app()
    app.listen(8888, "127.0.0.1")
    sweeper = start_sweeper(app)
    try:
        await asyncio.Event().wait()  # until interrupted
    finally:
        await sweeper.close()


if __name__ == "__main__":
    asyncio.run(main())
