"""The demo server as a child process, a Redis of the tests' own, and a proxy
in front of PostgreSQL: the pieces each fault test puts together."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from soak._demo import DemoServer
from soak._faults import FaultFigures
from soak._load import Load
from soak._stores import drop_schema

from ..postgres.proxy import TcpProxy
from ..redis.servers import RedisProcess, free_ports, redis_binary, stop_all

FRAMEWORKS = ["aiohttp", "tornado", "wsgi", "asgi", "flask"]

DemoFactory = Callable[[str, str, list[str]], DemoServer]


@pytest.fixture
def start_demo(tmp_path: Path) -> Iterator[DemoFactory]:
    """Start ``satchel-demo --framework F --store S OPTIONS``; stopped afterwards."""
    started: list[DemoServer] = []

    def start(framework: str, store: str, options: list[str]) -> DemoServer:
        demo = DemoServer(framework, store, tmp_path / f"{framework}-{store}.log", options)
        started.append(demo)
        demo.start()
        return demo

    yield start
    for demo in started:
        demo.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A ``redis-server`` of this test's own, which it may kill and restart."""
    (port,) = free_ports(1)
    server = RedisProcess(redis_binary("redis-server"), tmp_path / "redis", port)
    try:
        server.start()
        yield server
    finally:
        stop_all([server])


@pytest.fixture
def app_name(run_id: str, request: pytest.FixtureRequest) -> str:
    """The name the demo's store connections carry (Redis client name,
    PostgreSQL application_name), so the test can find them and no others."""
    return f"satchel-faults-{run_id}-{request.node.callspec.id}"


@pytest.fixture
def pg_schema(postgres_dsn: str, run_id: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A schema of this test's own, dropped afterwards."""
    schema = f"faults_{run_id}_{request.node.callspec.id}".lower().replace("-", "_")
    yield schema
    drop_schema(postgres_dsn, schema)


@pytest.fixture
def pg_proxy(postgres_dsn: str) -> Iterator[TcpProxy]:
    """A TCP proxy in front of the test PostgreSQL, which the test can stop."""
    params = conninfo_to_dict(postgres_dsn)
    proxy = TcpProxy((str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


def with_application_name(dsn: str, name: str) -> str:
    """`dsn` with its connections named `name` in ``pg_stat_activity``."""
    return make_conninfo(dsn, application_name=name)


def under_load(
    url: str, fault: Callable[[Load], Awaitable[FaultFigures]], users: int = 8
) -> tuple[FaultFigures, Load]:
    """Run `users` simulated users against `url`, inject `fault` once they
    have sessions, and stop the load; the fault's figures and the load."""

    async def main() -> tuple[FaultFigures, Load]:
        load = Load(url, users=users, request_timeout=20.0)
        task = asyncio.create_task(load.run(90.0))
        try:
            await asyncio.sleep(1.0)
            return await fault(load), load
        finally:
            load.stop()
            await task

    return asyncio.run(main())
