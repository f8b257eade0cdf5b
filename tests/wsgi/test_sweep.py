"""The cleanup job: a daemon thread started by the first request, stopped by close()."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest

from satchel import MemoryStore, SQLiteStore
from satchel.testing import ManualClock
from satchel_demo._wsgi import DemoApp

from .conftest import Serve


def eventually(condition: Callable[[], bool], within: float = 2.0) -> bool:
    """Poll `condition` until it holds or `within` seconds pass (never a timing assertion)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def sweep_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "satchel-sweep"]


def test_the_sweep_removes_expired_records_and_stops_on_close(
    serve: Serve, clock: ManualClock
) -> None:
    store = MemoryStore()
    client, middleware = serve(DemoApp(secure=False), store=store, sweep_interval=0.02)
    assert not middleware.sweeping  # nothing starts before the first request
    client.get("/login/ada")
    other = type(client)(f"http://{client.host}:{client.port}")
    other.get("/login/bob")
    assert middleware.sweeping
    assert len(store) == 2
    clock.advance(30)
    other.get("/counter")  # bob stays active
    time.sleep(0.1)  # several sweeps at this time: nothing has expired
    assert len(store) == 2
    clock.advance(31)  # ada: 61 s idle; bob: 31 s
    assert eventually(lambda: len(store) == 1)
    assert other.get("/whoami").text == "bob"
    middleware.close()
    assert not middleware.sweeping
    assert sweep_threads() == []
    clock.advance(120)
    time.sleep(0.1)
    assert len(store) == 1  # no sweep after close: bob's expired record stays
    assert client.get("/cookies").status == 200  # requests still work after close


def test_a_failing_sweep_is_logged_and_the_job_goes_on(
    serve: Serve, sqlite_store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    client, middleware = serve(DemoApp(secure=False), store=sqlite_store, sweep_interval=0.02)
    sqlite_store.close()
    client.get("/cookies")  # the first request starts the job

    def failures() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "sweep failed" in r.getMessage()]

    assert eventually(lambda: len(failures()) >= 2)
    assert all(r.levelno == logging.ERROR and r.name == "satchel.wsgi" for r in failures())
    assert "StoreError" in failures()[0].getMessage()
    assert middleware.sweeping
    middleware.close()
    assert not middleware.sweeping


@pytest.mark.parametrize(
    "options",
    [
        {},  # cookie storage: nothing to sweep
        {"store": MemoryStore(), "sweep_interval": None},  # turned off
    ],
    ids=["cookie-storage", "interval-none"],
)
def test_no_sweep_thread_when_there_is_nothing_to_sweep(
    serve: Serve, options: dict[str, object]
) -> None:
    client, middleware = serve(DemoApp(secure=False), **options)
    assert client.get("/login/ada").status == 200
    assert not middleware.sweeping
    assert sweep_threads() == []
