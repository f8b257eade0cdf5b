"""Store outages under load, over real HTTP, on every framework.

The real demo server runs as a child process while simulated users read and
write their sessions; then the store fails. Every answer that needed the
store inside an outage is a 503 with ``Cache-Control: no-store`` (never a
500, never slower than the store's timeout plus a margin), and answers are
200 again within seconds of the store coming back, from the same process.
The same scenarios run for a minute each under ``make soak``.
"""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from soak._demo import DemoServer
from soak._faults import FaultFigures, blip, outage
from soak._load import Load
from soak._stores import POSTGRES_TIMEOUT, REDIS_TIMEOUT, terminate_backends
from soak.run import ANSWER_MARGIN, RECOVERY_LIMIT

from ..postgres.proxy import TcpProxy
from ..redis.servers import RedisProcess
from .conftest import FRAMEWORKS, DemoFactory, under_load, with_application_name


def redis_demo(
    start_demo: DemoFactory, framework: str, server: RedisProcess, name: str
) -> DemoServer:
    url = f"{server.url}?client_name={name}"
    return start_demo(framework, "redis", ["--redis-url", url, "--redis-prefix", f"{name}:"])


def assert_fault_handled(figures: FaultFigures, load: Load, demo: DemoServer, pid: int) -> None:
    assert figures.problems() == [], (figures, demo.log_tail())
    failures = [a for a in load.answers if a.status == 503]
    assert failures, "the fault never showed"
    assert all("no-store" in (a.header("cache-control") or "") for a in failures)
    assert demo.running()
    assert demo.pid == pid


@pytest.mark.redis
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_redis_killed_and_restarted(
    framework: str, start_demo: DemoFactory, own_redis: RedisProcess, app_name: str
) -> None:
    demo = redis_demo(start_demo, framework, own_redis, app_name)
    pid = demo.pid

    async def fault(load: Load) -> FaultFigures:
        return await outage(
            load,
            "Redis killed, restarted",
            cut=own_redis.kill,
            restore=own_redis.start,
            seconds=1.5,
            limit=REDIS_TIMEOUT + ANSWER_MARGIN,
            recovery_limit=RECOVERY_LIMIT,
        )

    figures, load = under_load(demo.url, fault)
    assert figures.during[503] > 0
    assert_fault_handled(figures, load, demo, pid)


@pytest.mark.postgres
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_postgres_backends_terminated(
    framework: str, start_demo: DemoFactory, postgres_dsn: str, pg_schema: str, app_name: str
) -> None:
    dsn = with_application_name(postgres_dsn, app_name)
    demo = start_demo(
        framework, "postgres", ["--postgres-dsn", dsn, "--postgres-schema", pg_schema]
    )
    pid = demo.pid
    terminated: list[int] = []

    def terminate() -> str:
        terminated.append(terminate_backends(postgres_dsn, app_name))
        return f"{terminated[-1]} backends"

    async def fault(load: Load) -> FaultFigures:
        return await blip(
            load,
            "PostgreSQL backends terminated",
            fault=terminate,
            limit=POSTGRES_TIMEOUT + ANSWER_MARGIN,
            recovery_limit=RECOVERY_LIMIT,
            observe=1.0,
        )

    figures, _ = under_load(demo.url, fault)
    assert terminated[0] > 0
    # A request on a terminated connection may fail (a 503) or be retried on
    # a fresh one (a 200); either way, nothing else.
    assert figures.problems() == [], (figures, demo.log_tail())
    assert demo.running()
    assert demo.pid == pid


@pytest.mark.postgres
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_postgres_unreachable(
    framework: str,
    start_demo: DemoFactory,
    pg_proxy: TcpProxy,
    pg_schema: str,
    app_name: str,
) -> None:
    dsn = pg_proxy.dsn(f"&application_name={app_name}")
    demo = start_demo(
        framework, "postgres", ["--postgres-dsn", dsn, "--postgres-schema", pg_schema]
    )
    pid = demo.pid

    async def fault(load: Load) -> FaultFigures:
        return await outage(
            load,
            "PostgreSQL unreachable",
            cut=pg_proxy.stop,
            restore=pg_proxy.start,
            # Longer than the store's timeout, so some answers start and end inside.
            seconds=POSTGRES_TIMEOUT + 1.0,
            limit=POSTGRES_TIMEOUT + ANSWER_MARGIN,
            recovery_limit=RECOVERY_LIMIT,
        )

    figures, load = under_load(demo.url, fault)
    assert figures.during[503] > 0
    assert_fault_handled(figures, load, demo, pid)


def fetch(url: str, cookie: str = "") -> tuple[int, dict[str, str]]:
    """The status and headers (names lowercased: servers differ in case)."""
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        with error:
            return error.code, {k.lower(): v for k, v in error.headers.items()}


@pytest.mark.redis
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_outage_answer_has_retry_after(
    framework: str, start_demo: DemoFactory, own_redis: RedisProcess, app_name: str
) -> None:
    demo = redis_demo(start_demo, framework, own_redis, app_name)
    status, headers = fetch(demo.url + "/counter")
    assert status == 200, (status, headers, demo.log_tail())
    cookie = headers["set-cookie"].split(";")[0]
    own_redis.kill()

    status, headers = fetch(demo.url + "/counter", cookie)

    assert status == 503, (status, headers, demo.log_tail())
    assert "no-store" in headers["cache-control"]
    assert headers.get("retry-after", "").isdigit(), headers
