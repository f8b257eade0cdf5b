"""Fixtures for the Redis driver's tests: the shared server, own servers, a cluster."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from .servers import RedisProcess, free_ports, redis_binary, start_cluster, stop_all


def glob_escape(text: str) -> str:
    """`text` as a literal in a Redis SCAN MATCH pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def delete_matching(client: redis.Redis, prefix: str) -> int:
    """Delete every key that starts with `prefix`; return how many."""
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=glob_escape(prefix) + "*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            deleted += client.delete(*batch)
            batch = []
    if batch:
        deleted += client.delete(*batch)
    return deleted


@pytest.fixture(scope="session")
def redis_prefix(redis_url: str, run_id: str) -> Iterator[str]:
    """The key prefix this run uses on the shared server; its keys are
    deleted at the end of the run."""
    prefix = f"satchel-test:{run_id}:"
    yield prefix
    with redis.Redis.from_url(redis_url) as client:
        delete_matching(client, prefix)


@pytest.fixture
def redis_admin(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client of the shared server, for looking behind the store's back."""
    with redis.Redis.from_url(redis_url) as client:
        yield client


@pytest.fixture(scope="session")
def redis_server_binary() -> str:
    """The ``redis-server`` binary (skip or fail if missing)."""
    return redis_binary("redis-server")


@pytest.fixture
def own_server(redis_server_binary: str, tmp_path: Path) -> Iterator[RedisProcess]:
    """A ``redis-server`` of this test's own, on a free port; gone afterwards."""
    (port,) = free_ports(1)
    server = RedisProcess(
        redis_server_binary,
        tmp_path / "redis",
        port,
        # Every command in the slow log (with its client's address) lets a
        # test list the commands a request sent.
        ["--slowlog-log-slower-than", "0", "--slowlog-max-len", "10000"],
    )
    try:
        server.start()
        yield server
    finally:
        stop_all([server])


@pytest.fixture(scope="session")
def redis_cluster(
    redis_server_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[RedisProcess]]:
    """A real three-node Redis Cluster (primaries only), torn down at the end."""
    cli = redis_binary("redis-cli")
    nodes = start_cluster(redis_server_binary, cli, tmp_path_factory.mktemp("cluster"))
    try:
        yield nodes
    finally:
        stop_all(nodes)
