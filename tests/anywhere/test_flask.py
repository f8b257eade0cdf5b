"""The request-scoped context on Flask (waitress, whose worker threads serve
request after request), over real HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import flask
import pytest
from flask import Flask, Response, stream_with_context

import satchel
from satchel import NoRequestContext, Settings
from satchel import _context as satchel_context
from satchel_flask import Satchel

from ..flask.helpers import serving_with_waitress
from ..stores import CountingStore
from . import _helpers
from ._checks import AnywhereChecks, Served
from .test_wsgi import _in_a_new_thread


def build_app(settings: Settings, store: CountingStore) -> Flask:
    app = Flask("satchel_anywhere_tests")
    Satchel(app, settings=settings, store=store, sweep_interval=None)

    @app.get("/login/<user>")
    def login(user: str) -> str:
        return _helpers.login(user)

    @app.get("/whoami")
    def whoami() -> str:
        time.sleep(0.02)  # the other requests run meanwhile
        user = _helpers.whoami()
        # The accessor's session is flask.session's own.
        assert satchel.current_session() is flask.session.satchel  # type: ignore[attr-defined]
        return user

    @app.get("/child")
    def child() -> str:
        return _helpers.whoami_in_threads()

    @app.get("/untouched")
    def untouched() -> str:
        return _helpers.untouched()

    @app.get("/late")
    def late() -> Response:
        _helpers.whoami()

        def body() -> Iterator[str]:
            yield ""  # the headers leave with the first chunk
            yield _helpers.late()

        return Response(stream_with_context(body()), content_type="text/plain")

    @app.get("/cookies")
    def cookies() -> str:
        return _helpers.cookies()

    return app


class TestFlask(AnywhereChecks):
    child_sees = "ada|NoRequestContext"
    probe_finds = "NoRequestContext|NoRequestContext"

    @pytest.fixture
    def served(self, settings: Settings, counting_store: CountingStore) -> Iterator[Served]:
        with serving_with_waitress(build_app(settings, counting_store)) as url:
            yield Served(url, counting_store.ops, lambda: _in_a_new_thread(_helpers.probe_outside))


def test_a_thread_that_served_a_request_is_left_with_none(
    settings: Settings, counting_store: CountingStore
) -> None:
    # waitress and gunicorn's threads serve request after request: once one
    # is over (its streamed body included), nothing of it may be found there.
    client = build_app(settings, counting_store).test_client()
    for path, expected in (("/untouched", "True"), ("/late", "ProtocolError|ProtocolError")):
        response = client.get(path)
        assert response.get_data(as_text=True) == expected
        response.close()
        assert not satchel.has_request_context()


def test_a_request_context_pushed_by_hand_answers_only_while_pushed(
    settings: Settings, counting_store: CountingStore
) -> None:
    app = build_app(settings, counting_store)
    with app.test_request_context("/"):
        assert satchel.has_request_context()
        satchel.current_session()["user"] = "ada"
    # Nothing finished that request, so its binding is still there; it knows
    # its request is over.
    assert not satchel.has_request_context()
    with pytest.raises(NoRequestContext, match=r"satchel\.current_session\(\) .*outside"):
        satchel.current_session()


def test_an_error_flask_propagates_ends_the_requests_context(
    settings: Settings, counting_store: CountingStore
) -> None:
    app = build_app(settings, counting_store)
    app.testing = True  # PROPAGATE_EXCEPTIONS: the error leaves Flask before save_session

    @app.get("/boom")
    def boom() -> str:
        satchel.current_session()["user"] = "ada"
        raise LookupError("boom")

    bound_before = satchel_context._current.get(None)
    with pytest.raises(LookupError):
        app.test_client().get("/boom")
    # Unbound, not merely inert: what was bound before is back.
    assert satchel_context._current.get(None) is bound_before
