"""satchel_flask with Flask's test client and over real HTTP."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator

import pytest
from flask import (
    Flask,
    Response,
    flash,
    get_flashed_messages,
    jsonify,
    render_template_string,
    session,
    stream_with_context,
)
from werkzeug.wrappers import Response as WerkzeugResponse

import satchel_flask
from satchel import (
    AsyncMemoryStore,
    ConfigurationError,
    CookieError,
    MemoryStore,
    ProtocolError,
)
from satchel.testing import HttpClient, ManualClock, SwitchableStore
from satchel_flask import FlaskSession, Satchel, SessionTimedOut, SessionUnavailable
from tests.stores import CountingStore, OutracedStore

from .conftest import MakeApp
from .helpers import make_settings, serving

NAME = "session"


def add_routes(app: Flask) -> Flask:
    """The views most tests use, written as a Flask user would."""

    @app.get("/put/<key>/<value>")
    def put(key: str, value: str) -> str:
        session[key] = value
        return f"{key} set"

    @app.get("/get")
    def get() -> Response:
        return jsonify(dict(session))

    @app.get("/whoami")
    def whoami() -> str:
        return str(session.get("user", ""))

    @app.get("/nothing")
    def nothing() -> str:
        return "nothing"

    @app.get("/template")
    def template() -> str:
        # The template context holds the session; rendering without reading it opens nothing.
        return render_template_string("{{ 1 + 1 }}")

    @app.get("/login/<user>")
    def login(user: str) -> str:
        satchel_flask.regenerate()
        session["user"] = user
        return f"hello {user}"

    @app.get("/logout")
    def logout() -> str:
        satchel_flask.invalidate()
        flash("logged out")
        return "bye"

    @app.get("/flash/<message>")
    def flash_message(message: str) -> str:
        flash(message)
        return "flashed"

    @app.get("/flash/<category>/<message>")
    def flash_category(category: str, message: str) -> str:
        flash(message, category)
        return "flashed"

    @app.get("/messages")
    def messages() -> Response:
        return jsonify(get_flashed_messages(with_categories=True))

    @app.get("/clear")
    def clear() -> str:
        session.clear()
        return "cleared"

    return app


def session_cookie(response: WerkzeugResponse) -> str | None:
    """The session cookie's Set-Cookie line, if the response has one."""
    for value in response.headers.getlist("Set-Cookie"):
        if value.startswith(f"{NAME}="):
            return value
    return None


# -- flask.session is a satchel session -------------------------------------------------


def test_read_and_write_with_the_test_client(make_app: MakeApp) -> None:
    app, _ = make_app(store=MemoryStore())
    client = add_routes(app).test_client()
    first = client.get("/put/colour/blue")
    assert first.text == "colour set"
    line = session_cookie(first)
    assert line is not None
    assert "HttpOnly" in line
    assert "SameSite=Lax" in line
    assert "Max-Age" not in line  # a browser-session cookie by default
    assert "no-store" in first.headers["Cache-Control"]
    assert "Cookie" in first.headers["Vary"]
    client.get("/put/size/10")
    assert client.get("/get").json == {"colour": "blue", "size": "10"}


def test_flask_session_is_the_lazy_flask_session(make_app: MakeApp) -> None:
    app, extension = make_app()
    seen: dict[str, object] = {}

    @app.get("/inspect")
    def inspect() -> str:
        current = session._get_current_object()  # type: ignore[attr-defined]
        seen["type"] = type(current)
        seen["new"] = current.new
        current["n"] = 1
        seen["modified"] = current.modified
        seen["satchel"] = satchel_flask.get_session() is current.satchel
        return "ok"

    assert app.session_interface is extension.session_interface
    assert app.test_client().get("/inspect").status_code == 200
    assert seen == {"type": FlaskSession, "new": True, "modified": True, "satchel": True}


def test_nested_changes_are_saved_without_marking_modified(make_app: MakeApp) -> None:
    app, _ = make_app(store=MemoryStore())

    @app.get("/append/<item>")
    def append(item: str) -> str:
        session.setdefault("cart", [])
        session["cart"].append(item)  # no session.modified = True needed
        return "ok"

    client = add_routes(app).test_client()
    client.get("/append/a")
    client.get("/append/b")
    assert client.get("/get").json == {"cart": ["a", "b"]}


def test_read_and_write_over_real_http_with_cookie_storage(make_app: MakeApp) -> None:
    app, _ = make_app()
    with serving(add_routes(app)) as url:
        client = HttpClient(url)
        assert client.get("/put/colour/blue").status == 200
        assert client.get("/login/ada").text == "hello ada"
        assert client.get("/get").json() == {"colour": "blue", "user": "ada"}
        other = HttpClient(url)
        assert other.get("/whoami").text == ""


def test_the_test_clients_session_transaction_works(make_app: MakeApp) -> None:
    app, _ = make_app(store=MemoryStore())
    client = add_routes(app).test_client()
    with client.session_transaction() as prepared:
        prepared["user"] = "ada"
    assert client.get("/whoami").text == "ada"


# -- permanent ----------------------------------------------------------------------------


def test_permanent_follows_settings_persistent(make_app: MakeApp) -> None:
    app, _ = make_app(settings=make_settings(persistent=True), store=MemoryStore())
    seen: list[bool] = []

    @app.get("/login")
    def login() -> str:
        session.permanent = True  # what Flask apps do on login: agrees with the settings
        seen.append(session.permanent)
        session["user"] = "ada"
        return "ok"

    response = app.test_client().get("/login")
    assert response.status_code == 200
    assert seen == [True]
    line = session_cookie(response)
    assert line is not None
    assert "Max-Age=60" in line  # the idle timeout is the time left
    assert "Expires=" in line


def test_permanent_cannot_differ_per_session(make_app: MakeApp) -> None:
    app, _ = make_app(store=MemoryStore())
    errors: list[Exception] = []

    @app.get("/login")
    def login() -> str:
        assert session.permanent is False
        try:
            session.permanent = True
        except ConfigurationError as error:
            errors.append(error)
        session.permanent = False  # the settings' value: fine
        return "ok"

    assert app.test_client().get("/login").status_code == 200
    [error] = errors
    assert "Settings.persistent" in str(error)


# -- Flask's flash bridged onto satchel's flash ---------------------------------------------


def test_flash_then_redirect_shows_once(make_app: MakeApp) -> None:
    app, _ = make_app(store=MemoryStore())
    client = add_routes(app).test_client()
    client.get("/flash/hello")
    client.get("/flash/warning/careful")
    assert client.get("/messages").json == [["message", "hello"], ["warning", "careful"]]
    assert client.get("/messages").json == []


def test_flashes_are_not_among_the_session_keys(make_app: MakeApp) -> None:
    app, _ = make_app(store=MemoryStore())
    client = add_routes(app).test_client()
    client.get("/put/colour/blue")
    client.get("/flash/hello")
    assert client.get("/get").json == {"colour": "blue"}
    # Unread flashes wait, as in Flask, through requests that open the session.
    assert client.get("/whoami").status_code == 200
    assert client.get("/messages").json == [["message", "hello"]]


def test_flash_and_read_in_the_same_request(make_app: MakeApp) -> None:
    app, _ = make_app()

    @app.get("/now")
    def now() -> Response:
        flash("at once")
        return jsonify(get_flashed_messages())

    client = add_routes(app).test_client()
    assert client.get("/now").json == ["at once"]
    assert client.get("/messages").json == []


def test_session_clear_drops_flashes_too(make_app: MakeApp) -> None:
    app, _ = make_app(store=MemoryStore())
    client = add_routes(app).test_client()
    client.get("/put/colour/blue")
    client.get("/flash/hello")
    client.get("/clear")
    assert client.get("/messages").json == []
    assert client.get("/get").json == {}


def test_satchel_flash_and_flask_flash_side_by_side(make_app: MakeApp) -> None:
    app, _ = make_app()

    @app.get("/both")
    def both() -> str:
        satchel_flask.get_session().flash("notice", "satchel's")
        flash("flask's")
        return "ok"

    @app.get("/read")
    def read() -> Response:
        notice = satchel_flask.get_session().flashed.get("notice")
        return jsonify(notice=notice, messages=get_flashed_messages())

    client = add_routes(app).test_client()
    client.get("/both")
    assert client.get("/read").json == {"notice": "satchel's", "messages": ["flask's"]}


def test_flash_bridge_over_real_http(make_app: MakeApp) -> None:
    app, _ = make_app(store=MemoryStore())
    with serving(add_routes(app)) as url:
        client = HttpClient(url)
        client.get("/flash/hello")
        assert client.get("/messages").json() == [["message", "hello"]]
        assert client.get("/messages").json() == []


# -- login and logout ----------------------------------------------------------------------


def test_regenerate_and_invalidate_over_real_http(make_app: MakeApp) -> None:
    store = MemoryStore()
    app, _ = make_app(store=store)
    with serving(add_routes(app)) as url:
        client = HttpClient(url)
        client.get("/put/theme/dark")
        before = client.cookies[NAME]
        assert client.get("/login/ada").text == "hello ada"
        after = client.cookies[NAME]
        assert after != before
        # The pre-login ID no longer names a session.
        assert client.get("/get", cookie=f"{NAME}={before}", keep_cookies=False).json() == {}
        assert client.get("/get").json() == {"theme": "dark", "user": "ada"}
        response = client.get("/logout")
        assert response.text == "bye"
        # The flash after the logout starts a new session that carries it.
        assert client.get("/messages").json() == [["message", "logged out"]]
        assert client.get("/whoami").text == ""
        replay = client.get("/whoami", cookie=f"{NAME}={after}", keep_cookies=False)
        assert replay.text == ""


def test_helpers_outside_satchel_are_a_clear_error() -> None:
    app = Flask("plain")

    @app.get("/")
    def index() -> str:
        with pytest.raises(ConfigurationError, match=r"satchel_flask\.Satchel"):
            satchel_flask.regenerate()
        return "ok"

    assert app.test_client().get("/").status_code == 200
    with pytest.raises(RuntimeError, match="outside of a request"):
        satchel_flask.invalidate()


# -- laziness ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nothing", "/template"])
def test_a_view_that_never_touches_the_session_costs_nothing(make_app: MakeApp, path: str) -> None:
    store = CountingStore()
    app, _ = make_app(store=store)
    with serving(add_routes(app)) as url:
        client = HttpClient(url)
        client.get("/login/ada")
        store.ops.clear()
        response = client.get(path)
        assert response.status == 200
        assert store.ops == []
        assert response.header("Set-Cookie") == []
        assert not any("cookie" in value.lower() for value in response.header("Vary"))


def test_a_new_visitor_who_only_reads_gets_no_cookie(make_app: MakeApp) -> None:
    store = CountingStore()
    app, _ = make_app(store=store)
    response = add_routes(app).test_client().get("/whoami")
    assert response.text == ""
    assert session_cookie(response) is None
    assert store.ops == []  # no cookie: nothing to load
    assert "Cookie" in response.headers["Vary"]


# -- application cookies ---------------------------------------------------------------------


def test_cookie_helpers(make_app: MakeApp) -> None:
    store = CountingStore()
    app, _ = make_app(store=store)

    @app.get("/set")
    def set_theme() -> str:
        satchel_flask.set_cookie("theme", "dark", path="/", max_age=3600, secure=False)
        return "ok"

    @app.get("/read")
    def read() -> Response:
        return jsonify(dict(satchel_flask.request_cookies()))

    @app.get("/unset")
    def unset() -> str:
        satchel_flask.delete_cookie("theme", path="/")
        return "ok"

    @app.get("/bad")
    def bad() -> str:
        with pytest.raises(CookieError):
            satchel_flask.set_cookie("theme", "a;b")
        return "ok"

    client = app.test_client()
    response = client.get("/set")
    [line] = response.headers.getlist("Set-Cookie")
    assert line.startswith("theme=dark;")
    assert "Max-Age=3600" in line
    assert client.get("/read").json == {"theme": "dark"}
    expired = client.get("/unset").headers.getlist("Set-Cookie")
    assert any("Max-Age=0" in value for value in expired)
    assert client.get("/bad").status_code == 200
    assert store.ops == []  # none of these opened the session


# -- store failures --------------------------------------------------------------------------


def _assert_unavailable(response: WerkzeugResponse) -> None:
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert "no-store" in response.headers["Cache-Control"]
    assert response.headers.getlist("Set-Cookie") == []


def _store_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "satchel.flask" and "store failed" in record.getMessage()
    ]


def test_store_failure_on_load_is_a_503_logged_once(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    store = SwitchableStore(MemoryStore())
    app, _ = make_app(store=store)

    @app.get("/twice")
    def twice() -> str:
        for _ in range(2):
            with contextlib.suppress(SessionUnavailable):
                session.get("user")
        return "the view swallowed the failure"

    client = add_routes(app).test_client()
    client.get("/login/ada")
    store.break_down()
    caplog.set_level(logging.ERROR, "satchel.flask")
    _assert_unavailable(client.get("/whoami"))
    assert len(_store_errors(caplog)) == 1
    caplog.clear()
    # A view that catches the failure is still answered 503.
    _assert_unavailable(client.get("/twice"))
    assert len(_store_errors(caplog)) == 1
    store.mend()
    assert client.get("/whoami").text == "ada"


def test_store_failure_on_save_is_a_503_over_real_http(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    store = SwitchableStore(MemoryStore())
    app, _ = make_app(store=store)

    @app.get("/put-then-break/<value>")
    def put_then_break(value: str) -> str:
        session["colour"] = value
        store.break_down()  # the Save at the end of the request fails
        return "saved?"

    caplog.set_level(logging.ERROR, "satchel.flask")
    with serving(add_routes(app)) as url:
        client = HttpClient(url)
        client.get("/put/colour/blue")
        response = client.get("/put-then-break/red")
        assert response.status == 503
        assert response.header("Set-Cookie") == []
        assert any("no-store" in value for value in response.header("Cache-Control"))
        assert response.header("Retry-After") == ["2"]
        assert len(_store_errors(caplog)) == 1
        store.mend()
        assert client.get("/get").json() == {"colour": "blue"}


def test_the_applications_errorhandler_503_answers_a_store_failure(make_app: MakeApp) -> None:
    store = SwitchableStore(MemoryStore())
    app, _ = make_app(store=store)

    @app.errorhandler(503)
    def unavailable(error: Exception) -> tuple[str, int]:
        return "come back soon", 503

    client = add_routes(app).test_client()
    client.get("/login/ada")
    store.break_down()
    response = client.get("/whoami")
    assert response.text == "come back soon"
    _assert_unavailable(response)


def test_on_store_error_hook(make_app: MakeApp) -> None:
    store = SwitchableStore(MemoryStore())
    errors: list[Exception] = []

    def on_store_error(error: Exception) -> tuple[str, int, dict[str, str]]:
        errors.append(error)
        return "maintenance", 503, {"Retry-After": "30"}

    app, _ = make_app(store=store, on_store_error=on_store_error)
    client = add_routes(app).test_client()
    client.get("/login/ada")
    store.break_down()
    response = client.get("/whoami")
    assert response.status_code == 503
    assert response.text == "maintenance"
    assert response.headers["Retry-After"] == "30"
    assert session_cookie(response) is None
    assert len(errors) == 1


def test_a_save_outraced_past_the_deadline_is_a_503(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    store = OutracedStore()
    app, _ = make_app(store=store, settings=make_settings(conflict_deadline=0.2))
    caplog.set_level(logging.ERROR, "satchel.flask")
    with serving(add_routes(app)) as url:
        client = HttpClient(url)
        assert client.get("/login/ada").status == 200  # a new record: no race to lose
        response = client.get("/put/colour/blue")
        assert response.status == 503
        assert response.header("Set-Cookie") == []
        assert store.conflicts > 0
        [record] = _store_errors(caplog)
        assert "SessionConflict" in record.getMessage()


def test_an_unstorable_session_is_a_500_logged(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = make_app()  # cookie storage: 4096 bytes at most

    @app.get("/huge")
    def huge() -> str:
        session["blob"] = "x" * 10_000
        return "too big"

    caplog.set_level(logging.ERROR, "satchel.flask")
    response = app.test_client().get("/huge")
    assert response.status_code == 500
    assert session_cookie(response) is None
    assert any(
        record.name == "satchel.flask" and "SessionTooLarge" in record.getMessage()
        for record in caplog.records
    )


def test_an_unhandled_error_saves_nothing(make_app: MakeApp) -> None:
    app, _ = make_app(store=MemoryStore())

    @app.get("/fail")
    def fail() -> str:
        session["colour"] = "red"
        raise RuntimeError("boom")

    client = add_routes(app).test_client()
    client.get("/put/colour/blue")
    response = client.get("/fail")
    assert response.status_code == 500
    assert session_cookie(response) is None
    assert client.get("/get").json == {"colour": "blue"}


def test_a_handled_http_error_keeps_the_change(make_app: MakeApp) -> None:
    from flask import abort

    app, _ = make_app(store=MemoryStore())

    @app.get("/forbidden")
    def forbidden() -> str:
        session["tries"] = 1
        abort(403)

    client = add_routes(app).test_client()
    assert client.get("/forbidden").status_code == 403
    assert client.get("/get").json == {"tries": 1}


# -- timeouts --------------------------------------------------------------------------------


def test_idle_timeout_redirects_without_a_loop(make_app: MakeApp, clock: ManualClock) -> None:
    app, _ = make_app(store=MemoryStore(), timeout_location="/login-page")
    with serving(add_routes(app)) as url:
        client = HttpClient(url)
        client.get("/login/ada")
        clock.advance(60)
        response = client.get("/whoami")
        assert response.status == 302
        assert response.header("Location") == ["/login-page"]
        found = response.set_cookie(NAME)
        assert found is not None
        assert found[1].get("max-age") == "0"
        assert client.get("/whoami").text == ""


def test_on_timeout_hook_gets_the_fresh_session(make_app: MakeApp, clock: ManualClock) -> None:
    reasons: list[object] = []

    def on_timeout(fresh: object) -> Response:
        reasons.append(satchel_flask.get_session().ended_reason)
        flash("Your session expired")
        response = Response("expired", status=303)
        response.headers["Location"] = "/signin"
        return response

    app, _ = make_app(store=MemoryStore(), on_timeout=on_timeout)
    client = add_routes(app).test_client()
    client.get("/login/ada")
    clock.advance(61)
    response = client.get("/whoami")
    assert response.status_code == 303
    assert response.headers["Location"] == "/signin"
    assert reasons == ["idle"]
    assert client.get("/messages").json == [["message", "Your session expired"]]
    assert client.get("/whoami").text == ""


def test_a_view_that_catches_the_timeout_still_redirects(
    make_app: MakeApp, clock: ManualClock
) -> None:
    app, _ = make_app(store=MemoryStore())
    caught: list[str] = []

    @app.get("/careless")
    def careless() -> str:
        try:
            return str(session.get("user"))
        except SessionTimedOut as timed_out:
            caught.append(timed_out.reason)
            return "carry on"

    client = add_routes(app).test_client()
    client.get("/login/ada")
    clock.advance(3600)
    response = client.get("/careless")
    assert caught == ["idle"]
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


# -- streamed responses ------------------------------------------------------------------


def test_a_session_changed_inside_a_streamed_body_raises(make_app: MakeApp) -> None:
    app, _ = make_app(store=MemoryStore())
    errors: list[BaseException] = []

    @app.get("/late")
    def late() -> Response:
        session["before"] = True

        def generate() -> Iterator[str]:
            yield "first\n"
            try:
                session["after"] = True  # saved already: the headers are final
            except ProtocolError as error:
                errors.append(error)
            yield "second\n"

        return Response(stream_with_context(generate()))

    client = add_routes(app).test_client()
    response = client.get("/late")
    assert response.text == "first\nsecond\n"
    assert session_cookie(response) is not None
    assert len(errors) == 1
    assert client.get("/get").json == {"before": True}


# -- setting up -------------------------------------------------------------------------------


def test_init_app_factory_pattern(clock: ManualClock) -> None:
    extension = Satchel(settings=make_settings(), store=MemoryStore(), clock=clock)
    apps = [add_routes(Flask(f"app{index}")) for index in range(2)]
    for app in apps:
        extension.init_app(app)
        assert app.extensions["satchel"] is extension
        assert app.session_interface is extension.session_interface
    first = apps[0].test_client()
    first.get("/put/colour/blue")
    assert first.get("/get").json == {"colour": "blue"}
    extension.close()


def test_bad_options_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="store"):
        Satchel(settings=make_settings(), store=AsyncMemoryStore())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="timeout_location"):
        Satchel(settings=make_settings(), timeout_location="")
    with pytest.raises(ConfigurationError, match="app"):
        Satchel(settings=make_settings()).init_app(object())  # type: ignore[arg-type]


def test_the_sweep_thread_starts_on_the_first_request_and_stops(clock: ManualClock) -> None:
    app = add_routes(Flask("sweeping"))
    extension = Satchel(
        app, settings=make_settings(), store=MemoryStore(), clock=clock, sweep_interval=30
    )
    states = [extension.sweeping]
    app.test_client().get("/nothing")
    states.append(extension.sweeping)
    extension.close()
    states.append(extension.sweeping)
    assert states == [False, True, False]


def test_json_in_the_session_round_trips(make_app: MakeApp) -> None:
    app, _ = make_app(store=MemoryStore())

    @app.get("/nested")
    def nested() -> str:
        session["profile"] = {"name": "ada", "langs": ["en", "fr"], "age": 36}
        return "ok"

    client = add_routes(app).test_client()
    client.get("/nested")
    assert json.loads(client.get("/get").text) == {
        "profile": {"age": 36, "langs": ["en", "fr"], "name": "ada"}
    }


def test_an_on_timeout_hook_may_raise_a_redirect(make_app: MakeApp, clock: ManualClock) -> None:
    from flask import abort, redirect

    def on_timeout(fresh: object) -> Response:
        abort(redirect("/expired"))

    app, _ = make_app(store=MemoryStore(), on_timeout=on_timeout)
    client = add_routes(app).test_client()
    client.get("/login/ada")
    clock.advance(60)
    response = client.get("/whoami")
    assert response.status_code == 302
    assert response.headers["Location"] == "/expired"
    line = session_cookie(response)
    assert line is not None
    assert "Max-Age=0" in line
    assert client.get("/whoami").text == ""


def test_a_streamed_response_whose_save_fails_is_replaced(make_app: MakeApp) -> None:
    store = SwitchableStore(MemoryStore())
    app, _ = make_app(store=store)
    torn_down: list[bool] = []

    @app.teardown_request
    def teardown(error: BaseException | None) -> None:
        torn_down.append(True)

    @app.get("/stream-then-break")
    def stream_then_break() -> Response:
        session["streamed"] = True
        store.break_down()

        def generate() -> Iterator[str]:
            yield "never sent\n"

        return Response(stream_with_context(generate()))

    with serving(add_routes(app)) as url:
        response = HttpClient(url).get("/stream-then-break")
        assert response.status == 503
        assert b"never sent" not in response.body
        assert response.header("Set-Cookie") == []
    # stream_with_context holds the request open until its body is closed: the
    # replaced body was still closed, once, so the request was torn down.
    assert torn_down == [True]
