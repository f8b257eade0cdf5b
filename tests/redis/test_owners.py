"""The Redis owner index as only real servers show it: its layout and expiry,
lazy pruning, the round trips per op, and the Redis Cluster races, with the
steps of two clients interleaved by hand.

The conformance suite (test_conformance.py) checks the owner ops' contract on
one server and on the cluster; these tests look behind the store's back.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import redis
import redis.cluster
from redis.cluster import ClusterNode

from satchel import (
    Conflict,
    Delete,
    Ended,
    EndOwned,
    Keyring,
    ListOwned,
    Load,
    Loaded,
    Missing,
    Owned,
    Result,
    Save,
    Saved,
    Session,
    SessionProtocol,
    Settings,
    end_sessions,
    list_sessions,
)
from satchel.testing import Browser, ManualClock, StoreConformance
from satchel_redis import RedisStore

from ..conftest import SECRET
from .servers import HOST, RedisProcess
from .test_round_trips import ADMIN, CommandLog

pytestmark = pytest.mark.redis

T = TypeVar("T")

NOW = 1_767_225_600.0
TTL = 60.0


def save(
    key: str, value: bytes = b"v", revision: int | None = None, *, owner: str | None, **fields: Any
) -> Save:
    """The conformance kit's `Save`, on this module's clock and TTL."""
    fields.setdefault("now", NOW)
    fields.setdefault("ttl", TTL)
    return StoreConformance.save(key, value, revision, owner=owner, **fields)


def unique() -> str:
    return uuid.uuid4().hex


def index_key(prefix: str, owner: str) -> str:
    """The documented layout (docs/stores/redis.md, "Owner index")."""
    return prefix + "owner:{" + hashlib.sha256(owner.encode()).hexdigest() + "}"


def session_key(prefix: str, key: str) -> str:
    return prefix + "{" + key + "}"


class Interleaved(redis.cluster.RedisCluster):
    """A real cluster client that runs a test's step just before it sends a
    given command: ``steps["SET"] = [step]`` runs `step` before the next SET;
    ``None`` in the list lets one such command pass first.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Set first: the client sends commands while it starts.
        self.steps: dict[str, list[Callable[[], object] | None]] = {}
        super().__init__(*args, **kwargs)

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        queue = self.steps.get(str(args[0]).upper())
        if queue:
            step = queue.pop(0)
            if step is not None:
                step()
        return super().execute_command(*args, **kwargs)


def cluster_client(nodes: list[RedisProcess], cls: type[redis.cluster.RedisCluster]) -> Any:
    return cls(
        startup_nodes=[ClusterNode(HOST, node.port) for node in nodes],
        socket_timeout=5,
        socket_connect_timeout=5,
    )


@pytest.fixture(params=["server", "client", "cluster"])
def store(
    request: pytest.FixtureRequest, redis_url: str, redis_prefix: str
) -> Iterator[RedisStore]:
    """A store on the shared server (from_url's lean path, or a client passed
    in, on redis-py's command path) or on the test cluster."""
    if request.param == "server":
        with RedisStore.from_url(redis_url, prefix=redis_prefix) as store:
            yield store
        return
    if request.param == "client":
        with redis.Redis.from_url(redis_url) as client:
            yield RedisStore(client, prefix=redis_prefix)
        return
    client = cluster_client(request.getfixturevalue("redis_cluster"), redis.cluster.RedisCluster)
    try:
        yield RedisStore(client, prefix=redis_prefix)
    finally:
        client.close()


class Race:
    """Two stores on the test cluster, for interleaving their steps by hand:
    `hooked` runs what `before` sets up just before it sends a command,
    `plain` runs its ops straight through.
    """

    def __init__(self, hooked: Interleaved, plain: redis.cluster.RedisCluster, prefix: str) -> None:
        self._steps = hooked.steps
        self.hooked = RedisStore(hooked, prefix=prefix)
        self.plain = RedisStore(plain, prefix=prefix)

    def before(self, command: str, step: Callable[[], T], *, after: int = 0) -> list[T]:
        """Run `step` before `hooked` sends `command` for the ``after + 1``-th
        time; answer the list `step`'s result is put in."""
        results: list[T] = []
        self._steps[command] = [None] * after + [lambda: results.append(step())]
        return results

    def end_all_before(self, command: str, owner: str, *, after: int = 0) -> list[Result]:
        """`plain` ends `owner`'s sessions just before `hooked` sends `command`."""
        return self.before(
            command, lambda: self.plain.execute(EndOwned(owner=owner, now=NOW)), after=after
        )


@pytest.fixture
def race(redis_cluster: list[RedisProcess], redis_prefix: str) -> Iterator[Race]:
    hooked = cluster_client(redis_cluster, Interleaved)
    plain = cluster_client(redis_cluster, redis.cluster.RedisCluster)
    try:
        yield Race(hooked, plain, redis_prefix)
    finally:
        hooked.close()
        plain.close()


def protocol() -> SessionProtocol:
    settings = Settings(keyring=Keyring([SECRET]))
    return SessionProtocol(settings, storage="server", owner_index=True)


def login(owner: str) -> Callable[[Session], None]:
    def handler(session: Session) -> None:
        session.regenerate(owner=owner)
        session["user"] = owner

    return handler


def whoami(session: Session) -> tuple[str | None, Any, str | None]:
    return session.owner, session.get("user"), session.ended_reason


# -- layout and expiry ----------------------------------------------------------


def test_the_index_is_a_sorted_set_of_store_keys_scored_by_expiry(store: RedisStore) -> None:
    client: Any = store.client
    owner, key = unique(), unique()
    index = index_key(store.prefix, owner)
    assert store.execute(save(key, owner=owner)) == Saved(revision=1)
    assert client.type(index) == b"zset"
    assert client.zrange(index, 0, -1, withscores=True) == [(key.encode(), NOW + TTL)]
    # At least as long as the session (on a cluster, where the index is
    # written first, a second longer).
    assert TTL * 1000 - 5000 < client.pttl(index) <= (TTL + 1) * 1000
    assert client.pexpiretime(session_key(store.prefix, key)) <= client.pexpiretime(index)

    # A longer-lived update moves the score and the index's own expiry.
    later = NOW + 10
    assert store.execute(save(key, b"v2", 1, owner=owner, ttl=120, now=later)) == Saved(revision=2)
    assert client.zscore(index, key) == later + 120
    assert client.pttl(index) > 115_000

    # A shorter-lived one moves the score but never shortens the index's
    # expiry: another member may need it.
    assert store.execute(save(key, b"v3", 2, owner=owner, ttl=30, now=later)) == Saved(revision=3)
    assert client.zscore(index, key) == later + 30
    assert client.pttl(index) > 115_000


def test_sessions_without_an_owner_have_no_index(store: RedisStore) -> None:
    client: Any = store.client
    key = unique()
    store.execute(save(key, owner=None))
    store.execute(save(key, b"v2", 1, owner=None))
    store.execute(Delete(key=key))
    assert client.exists(index_key(store.prefix, key)) == 0


def test_the_index_expires_with_its_last_session(store: RedisStore) -> None:
    client: Any = store.client
    owner = unique()
    index = index_key(store.prefix, owner)
    for _ in range(2):
        store.execute(save(unique(), owner=owner, ttl=0.2))
    assert client.exists(index) == 1
    time.sleep(1.5)
    assert client.exists(index) == 0


def test_an_owner_needs_no_safe_characters(store: RedisStore) -> None:
    for owner in ("ada lovelace", "{hash}tag", "é" * 64, "a\\b*c?[d]"):
        key = unique()
        store.execute(save(key, owner=owner))
        assert store.execute(ListOwned(owner=owner, now=NOW)) == Owned(records=((key, b"v"),))
        assert store.execute(EndOwned(owner=owner, now=NOW)) == Ended(count=1)


# -- stale entries ------------------------------------------------------------------


def test_entries_past_their_expiry_are_pruned_by_the_next_op(store: RedisStore) -> None:
    client: Any = store.client
    owner, ending, lasting = unique(), unique(), unique()
    index = index_key(store.prefix, owner)
    # The clock says `ending` expires at NOW + 5 (its key lives on in Redis
    # for the TTL, but the core treats the session as ended by then).
    store.execute(save(ending, b"e", owner=owner, expires_at=NOW + 5))
    store.execute(save(lasting, b"l", owner=owner))
    assert client.zcard(index) == 2
    assert store.execute(ListOwned(owner=owner, now=NOW + 10)) == Owned(records=((lasting, b"l"),))
    assert client.zscore(index, ending) is None
    assert client.zscore(index, lasting) == NOW + TTL


def test_an_entry_whose_session_is_gone_is_left_out(store: RedisStore) -> None:
    client: Any = store.client
    owner, gone, kept = unique(), unique(), unique()
    index = index_key(store.prefix, owner)
    store.execute(save(gone, b"g", owner=owner))
    store.execute(save(kept, b"k", owner=owner))
    # A delete that does not name the owner leaves the entry behind.
    store.execute(Delete(key=gone))
    assert client.zscore(index, gone) == NOW + TTL
    assert store.execute(ListOwned(owner=owner, now=NOW)) == Owned(records=((kept, b"k"),))
    assert store.execute(EndOwned(owner=owner, now=NOW)) == Ended(count=1)
    assert client.exists(index) == 0


def test_one_server_drops_entries_whose_session_is_gone_when_listing(
    redis_url: str, redis_prefix: str, redis_admin: redis.Redis
) -> None:
    owner, gone = unique(), unique()
    index = index_key(redis_prefix, owner)
    with RedisStore.from_url(redis_url, prefix=redis_prefix) as store:
        store.execute(save(gone, owner=owner))
        store.execute(Delete(key=gone))
        assert store.execute(ListOwned(owner=owner, now=NOW)) == Owned(records=())
    assert redis_admin.exists(index) == 0


def test_the_cluster_keeps_entries_whose_session_is_gone_until_they_expire(
    race: Race,
) -> None:
    # On a cluster a listing cannot tell a deleted session from one whose
    # create is between its steps, so it leaves the entry to its expiry.
    store = race.plain
    client: Any = store.client
    owner, gone = unique(), unique()
    index = index_key(store.prefix, owner)
    store.execute(save(gone, owner=owner))
    store.execute(Delete(key=gone))
    assert store.execute(ListOwned(owner=owner, now=NOW)) == Owned(records=())
    assert client.zscore(index, gone) == NOW + TTL
    assert store.execute(ListOwned(owner=owner, now=NOW + TTL)) == Owned(records=())
    assert client.exists(index) == 0


def test_entries_gone_stale_do_not_count_against_the_cap_on_one_server(
    redis_url: str, redis_prefix: str
) -> None:
    owner = unique()
    live, deleted = unique(), unique()
    with RedisStore.from_url(redis_url, prefix=redis_prefix) as store:
        store.execute(save(live, b"live", owner=owner, ttl=TTL + 10))
        store.execute(save(deleted, owner=owner, ttl=TTL + 1))
        store.execute(Delete(key=deleted))  # without the owner: its entry stays
        newest = unique()
        store.execute(save(newest, b"new", owner=owner, ttl=TTL + 20, max_owned=2))
        records = store.execute(ListOwned(owner=owner, now=NOW))
    assert isinstance(records, Owned)
    assert set(records.records) == {(live, b"live"), (newest, b"new")}


# -- round trips on one server ------------------------------------------------------


@pytest.fixture
def log(own_server: RedisProcess) -> Iterator[CommandLog]:
    with redis.Redis(host=HOST, port=own_server.port, client_name=ADMIN) as admin:
        yield CommandLog(admin)


def test_each_owner_op_is_one_round_trip(own_server: RedisProcess, log: CommandLog) -> None:
    clock = ManualClock()
    with RedisStore.from_url(own_server.url) as store:
        store.client.ping()
        sessions = protocol()

        def browser() -> Browser:
            return Browser(sessions, clock, store)

        # Each script once, so the server's script cache holds them.
        warm = browser()
        warm.request(login("warm-up"))
        warm.request(lambda s: s.update(n=1))
        list_sessions(store, sessions, "warm-up", now=clock())
        warm.request(lambda s: s.end_other_sessions())
        warm.request(lambda s: s.invalidate())
        warm.request(lambda s: s.update(n=1))
        warm.request(lambda s: s.update(n=2))

        ada = [browser() for _ in range(3)]
        # A login with no session before: one create, with the index, in one script.
        assert log.measure(lambda: ada[0].request(login("ada"))) == (
            ["evalsha"],
            Counter(
                evalsha=1,
                exists=1,
                zremrangebyscore=1,
                zcard=1,
                set=1,
                zadd=1,
                pttl=1,
                pexpire=1,
            ),
        )
        for other in ada[1:]:
            other.request(login("ada"))
        # Untouched and read-only requests pay nothing for the owner.
        assert log.measure(lambda: ada[0].request()) == ([], Counter())
        assert log.measure(lambda: ada[0].request(lambda s: s.get("user"))) == (
            ["get"],
            Counter(get=1),
        )
        # A change: the load and one script (the compare-and-set and the score).
        trips, commands = log.measure(lambda: ada[0].request(lambda s: s.update(n=2)))
        assert trips == ["get", "evalsha"]
        assert commands["getrange"] == commands["set"] == commands["zadd"] == 1
        # Listing and ending: one script each, however many sessions.
        assert log.measure(lambda: list_sessions(store, sessions, "ada", now=clock()))[0] == [
            "evalsha"
        ]
        trips, commands = log.measure(lambda: ada[0].request(lambda s: s.end_other_sessions()))
        assert trips == ["get", "evalsha"]
        assert commands["del"] == 2
        # Logging out: the load and one script (the key and its entry).
        assert log.measure(lambda: ada[0].request(lambda s: s.invalidate()))[0] == [
            "get",
            "evalsha",
        ]
        assert log.measure(lambda: end_sessions(store, sessions, "ada", now=clock()))[0] == [
            "evalsha"
        ]

        # A session without an owner, under the same protocol, keeps its counts.
        plain = browser()
        assert log.measure(lambda: plain.request(lambda s: s.update(n=0))) == (
            ["set"],
            Counter(set=1),
        )
        assert log.measure(lambda: plain.request(lambda s: s.update(n=1))) == (
            ["get", "evalsha"],
            Counter(get=1, evalsha=1, getrange=1, set=1),
        )
        assert log.measure(lambda: plain.request(lambda s: s.invalidate())) == (
            ["get", "del"],
            Counter({"get": 1, "del": 1}),
        )


def test_a_flushed_script_cache_is_refilled(own_server: RedisProcess, log: CommandLog) -> None:
    with RedisStore.from_url(own_server.url) as store:
        owner = unique()
        store.execute(save(unique(), owner=owner))
        log.admin.script_flush()
        log.reset()
        assert store.execute(ListOwned(owner=owner, now=NOW)) != Owned(records=())
        assert log.round_trips() == ["evalsha", "script", "evalsha"]


# -- Redis Cluster: the steps of a login and of "end all", interleaved -------------


def test_end_all_between_filing_and_creating_leaves_nothing(race: Race) -> None:
    creator, ender = race.hooked, race.plain
    owner, before, racing = unique(), unique(), unique()
    ender.execute(save(before, owner=owner))
    ended = race.end_all_before("SET", owner)

    # The "end all" ran after the login filed its key and before it created
    # it: it ended the session it found, and the login's key, created after
    # it, is deleted by the login itself, which answers Conflict (the core
    # then creates the session again under a new ID).
    assert creator.execute(save(racing, owner=owner)) == Conflict()
    assert ended == [Ended(count=1)]
    assert creator.execute(Load(key=before, now=NOW)) == Missing()
    assert creator.execute(Load(key=racing, now=NOW)) == Missing()
    assert ender.execute(ListOwned(owner=owner, now=NOW)) == Owned(records=())

    again = unique()
    assert creator.execute(save(again, b"again", owner=owner)) == Saved(revision=1)
    assert ender.execute(ListOwned(owner=owner, now=NOW)) == Owned(records=((again, b"again"),))


def test_end_all_between_creating_and_checking_ends_the_new_session(race: Race) -> None:
    owner, before, racing = unique(), unique(), unique()
    race.plain.execute(save(before, owner=owner))
    ended = race.end_all_before("ZSCORE", owner)

    # The session existed when "end all" ran: it must not survive it.
    assert race.hooked.execute(save(racing, owner=owner)) == Conflict()
    assert ended == [Ended(count=2)]
    assert race.hooked.execute(Load(key=racing, now=NOW)) == Missing()
    assert race.plain.execute(ListOwned(owner=owner, now=NOW)) == Owned(records=())


def test_a_login_after_end_all_took_the_index_lives(race: Race) -> None:
    ender, creator = race.hooked, race.plain
    owner, before, after = unique(), unique(), unique()
    creator.execute(save(before, owner=owner))
    # "End all" has taken the index and deleted the sessions it found; a
    # login runs whole before it clears the entries it took.
    created = race.before("ZREM", lambda: creator.execute(save(after, owner=owner)))

    assert ender.execute(EndOwned(owner=owner, now=NOW)) == Ended(count=1)
    assert created == [Saved(revision=1)]
    assert creator.execute(Load(key=before, now=NOW)) == Missing()
    assert creator.execute(Load(key=after, now=NOW)) == Loaded(value=b"v", revision=1)
    assert creator.execute(ListOwned(owner=owner, now=NOW)) == Owned(records=((after, b"v"),))


def test_an_update_racing_end_all_cannot_revive_the_session(race: Race) -> None:
    updater = race.hooked
    owner, key = unique(), unique()
    updater.execute(save(key, owner=owner))
    # The update files its new expiry (one script), then "end all" runs,
    # then the update's compare-and-set (a second script).
    ended = race.end_all_before("EVALSHA", owner, after=1)
    assert updater.execute(save(key, b"revived", 1, owner=owner)) == Conflict()
    assert ended == [Ended(count=1)]
    assert updater.execute(Load(key=key, now=NOW)) == Missing()
    assert race.plain.execute(ListOwned(owner=owner, now=NOW)) == Owned(records=())


def test_a_cap_on_the_cluster_ends_the_evicted_session_before_clearing_its_entry(
    race: Race,
) -> None:
    creator, other = race.hooked, race.plain
    client: Any = other.client
    owner, oldest, newer = unique(), unique(), unique()
    index = index_key(creator.prefix, owner)
    other.execute(save(oldest, owner=owner, ttl=TTL + 1))
    other.execute(save(newer, owner=owner, ttl=TTL + 2))
    # Between ending the evicted session and clearing its entry: the entry
    # is doomed (-inf), so it is neither counted nor listed.
    seen = race.before(
        "ZREM",
        lambda: (client.zscore(index, oldest), other.execute(ListOwned(owner=owner, now=NOW))),
    )
    newest = unique()
    assert creator.execute(save(newest, owner=owner, ttl=TTL + 3, max_owned=2)) == Saved(revision=1)
    [(score, listed)] = seen
    assert score == float("-inf")
    assert isinstance(listed, Owned)
    assert {key for key, _ in listed.records} == {newer}
    assert other.execute(Load(key=oldest, now=NOW)) == Missing()
    assert client.zscore(index, oldest) is None


def test_a_login_racing_end_all_through_the_core(race: Race) -> None:
    sessions, clock = protocol(), ManualClock()
    earlier = Browser(sessions, clock, race.plain)
    earlier.request(login("grace"))
    ended = race.before("SET", lambda: end_sessions(race.plain, sessions, "grace", now=clock()))
    racing = Browser(sessions, clock, race.hooked)
    response = racing.request(login("grace"))
    # The core met the Conflict and created the session under a new ID.
    assert response.ops == ("Save", "Save")
    assert ended == [1]
    assert earlier.request(whoami).value == (None, None, "ended")
    assert racing.request(whoami).value == ("grace", "grace", None)
    assert len(list_sessions(race.plain, sessions, "grace", now=clock())) == 1


# -- end to end -----------------------------------------------------------------------


def test_three_browsers_log_in_and_one_ends_the_others(store: RedisStore) -> None:
    sessions, clock = protocol(), ManualClock()
    owner = f"ada-{unique()}"
    browsers = [Browser(sessions, clock, store) for _ in range(3)]
    for browser in browsers:
        browser.request(login(owner))
        clock.advance(1)
    listed = list_sessions(store, sessions, owner, now=clock())
    assert len(listed) == 3
    assert len({info.handle for info in listed}) == 3

    response = browsers[0].request(lambda s: s.end_other_sessions())
    assert response.outcome.sessions_ended == 2
    assert browsers[0].request(whoami).value == (owner, owner, None)
    for browser in browsers[1:]:
        assert browser.request(whoami).value == (None, None, "ended")
    assert len(list_sessions(store, sessions, owner, now=clock())) == 1
