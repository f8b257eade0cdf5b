"""What real requests cost in Redis commands, read from a server of the test's own.

Two views of the same requests: the slow log (every command, since the
server logs anything slower than 0 µs) lists the commands that arrived over
the network, in order, with the client that sent them; the commands a Lua
script runs are logged too, but under the client address ``?:0``. ``INFO
commandstats`` counts every command, the script's included, so the two
together show both the round trips and all the work the server did.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from satchel import Keyring, SessionProtocol, Settings
from satchel.testing import Browser, ManualClock
from satchel_redis import RedisStore

from ..conftest import SECRET
from .servers import HOST, RedisProcess

pytestmark = pytest.mark.redis

ADMIN = "satchel-test-admin"
SCRIPT_CLIENT = b"?:0"  # the address the slow log gives commands run by a script


class CommandLog:
    """Resets and reads the slow log and the command statistics."""

    def __init__(self, admin: redis.Redis) -> None:
        self.admin = admin

    def reset(self) -> None:
        self.admin.slowlog_reset()
        self.admin.config_resetstat()

    def round_trips(self) -> list[str]:
        """The commands sent over the network since `reset`, oldest first,
        by every client but this one."""
        entries = self.admin.slowlog_get(10_000)
        return [
            entry["command"].split()[0].decode().lower()
            for entry in reversed(entries)
            if entry["client_address"] != SCRIPT_CLIENT and entry["client_name"] != ADMIN.encode()
        ]

    def all_commands(self) -> Counter[str]:
        """Every command the server ran since `reset`, scripts' included,
        leaving out this class's own."""
        stats: dict[str, Any] = self.admin.info("commandstats")
        counts: Counter[str] = Counter()
        for name, fields in stats.items():
            command = name.removeprefix("cmdstat_")
            if command.split("|")[0] not in ("info", "config", "slowlog"):
                counts[command] = fields["calls"]
        return counts

    def measure(self, request: Callable[[], object]) -> tuple[list[str], Counter[str]]:
        self.reset()
        request()
        return self.round_trips(), self.all_commands()


@pytest.fixture
def log(own_server: RedisProcess) -> Iterator[CommandLog]:
    with redis.Redis(host=HOST, port=own_server.port, client_name=ADMIN) as admin:
        yield CommandLog(admin)


@pytest.fixture
def store(own_server: RedisProcess) -> Iterator[RedisStore]:
    with RedisStore.from_url(own_server.url) as store:
        # Connect now: a new connection's handshake is not a request's cost.
        store.client.ping()
        yield store


@pytest.fixture
def settings() -> Settings:
    return Settings(keyring=Keyring([SECRET]))


def test_round_trips_per_request(log: CommandLog, store: RedisStore, settings: Settings) -> None:
    clock = ManualClock()
    browser = Browser(SessionProtocol(settings, storage="server"), clock, store)

    # A request that never opens its session: nothing at all.
    assert log.measure(lambda: browser.request()) == ([], Counter())

    # Opening a session with no cookie and writing to it: one create.
    assert log.measure(lambda: browser.request(lambda s: s.update(user="ada", n=0))) == (
        ["set"],
        Counter(set=1),
    )

    # Read-only: the load, nothing else.
    assert log.measure(lambda: browser.request(lambda s: s.get("user"))) == (
        ["get"],
        Counter(get=1),
    )

    # The first change after the server started: its script cache is empty,
    # so EVALSHA is refused once, the script is loaded, and EVALSHA is sent again.
    trips, _ = log.measure(lambda: browser.request(lambda s: s.update(n=1)))
    assert trips == ["get", "evalsha", "script", "evalsha"]

    # From then on a change is the load plus one EVALSHA; the script's own
    # GETRANGE and SET run on the server, within that round trip.
    in_script = Counter(getrange=1, set=1)
    assert log.measure(lambda: browser.request(lambda s: s.update(n=2))) == (
        ["get", "evalsha"],
        Counter(get=1, evalsha=1) + in_script,
    )

    # Unchanged, within the touch interval: still the load alone.
    clock.advance(settings.touch_interval - 1)
    assert log.measure(lambda: browser.request(lambda s: s.get("n"))) == (
        ["get"],
        Counter(get=1),
    )

    # Unchanged, but past the touch interval: the load and the re-save.
    clock.advance(2)
    assert log.measure(lambda: browser.request(lambda s: s.get("n"))) == (
        ["get", "evalsha"],
        Counter(get=1, evalsha=1) + in_script,
    )

    # Logging out: the load and the delete.
    assert log.measure(lambda: browser.request(lambda s: s.invalidate())) == (
        ["get", "del"],
        Counter({"get": 1, "del": 1}),
    )
    assert browser.request(lambda s: s.get("user")).value is None


def test_ops_and_commands_agree(log: CommandLog, store: RedisStore, settings: Settings) -> None:
    # One command per store op, whichever op it is.
    browser = Browser(SessionProtocol(settings, storage="server"), ManualClock(), store)
    browser.request(lambda s: s.update(a=1))
    browser.request(lambda s: s.update(a=2))  # loads the script into the server's cache
    for handler in (
        lambda s: s.update(a=3),
        lambda s: s.get("a"),
        lambda s: s.regenerate(),
        lambda s: s.invalidate(),
    ):
        log.reset()
        response = browser.request(handler)
        assert len(log.round_trips()) == len(response.ops), (response.ops, log.round_trips())


def test_memory_per_session(
    own_server: RedisProcess, store: RedisStore, settings: Settings
) -> None:
    # A typical small session: a user, a few preferences, a CSRF token.
    browser = Browser(SessionProtocol(settings, storage="server"), ManualClock(), store)
    browser.request(
        lambda s: s.update(
            user_id=123456,
            name="Ada Lovelace",
            roles=["admin", "editor"],
            preferences={"theme": "dark", "language": "en-GB", "timezone": "Europe/London"},
            csrf="q4Jm0u7o5dQxW8cTqgI7bPzR9vE2nYlK3sHfA1jUe6w",
            cart=[101, 202, 303],
        )
    )
    with redis.Redis(host=HOST, port=own_server.port) as admin:
        (key,) = admin.keys("satchel:*")
        stored = admin.strlen(key)
        usage = admin.memory_usage(key, samples=0)
    assert usage is not None
    # Beyond the stored value: the key, Redis's object headers and the
    # expiry entry. Measured on Redis 7.0 (jemalloc): 328 bytes for a
    # 53-byte key and a 210-byte value, so 65 bytes beyond key and value.
    assert usage - stored - len(key) < 100, (len(key), stored, usage)
