"""A small real HTTP client that keeps cookies, for adapter tests.

It speaks HTTP/1.1 over a real socket (``http.client``), never follows
redirects on its own, and keeps cookies the way a browser does for one
origin: Set-Cookie replaces, Max-Age/Expires expire (on the wall clock),
and browser-session cookies live until `close_browser`.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any, final

import attrs

from ._browser import _CookieJar, parse_set_cookie

__all__ = ["HttpClient", "HttpResponse"]


@final
@attrs.frozen(kw_only=True)
class HttpResponse:
    """One response: status, every header (in order) and the body."""

    status: int
    headers: tuple[tuple[str, str], ...] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)
    chunks: int = 1
    """How many reads the body arrived in (more than one for a streamed body)."""

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def header(self, name: str) -> list[str]:
        """Every value of header `name` (case-insensitive)."""
        return [value for key, value in self.headers if key.lower() == name.lower()]

    @property
    def set_cookies(self) -> list[tuple[str, str, dict[str, str]]]:
        """The Set-Cookie headers, each split into (name, value, attributes)."""
        return [parse_set_cookie(value) for value in self.header("Set-Cookie")]

    def set_cookie(self, name: str) -> tuple[str, dict[str, str]] | None:
        """(value, attributes) of the last Set-Cookie for `name`, if any."""
        found = None
        for cookie_name, value, attributes in self.set_cookies:
            if cookie_name == name:
                found = (value, attributes)
        return found


@final
class HttpClient:
    """A cookie-keeping HTTP/1.1 client for one server (``http://host:port``)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme != "http" or parsed.hostname is None:
            raise ValueError(f"expected an http:// URL, got {base_url!r}")
        self.host = parsed.hostname
        self.port = parsed.port or 80
        self.timeout = timeout
        self._jar = _CookieJar(time.time)

    def __repr__(self) -> str:
        return f"<HttpClient http://{self.host}:{self.port}>"

    @property
    def cookies(self) -> dict[str, str]:
        """The live cookies, name → value."""
        return self._jar.live()

    def cookie_header(self) -> str | None:
        """The Cookie header the client would send now."""
        return self._jar.header()

    def close_browser(self) -> None:
        """Drop browser-session cookies, as closing a browser does."""
        self._jar.close()

    def receive(self, headers: tuple[tuple[str, str], ...]) -> None:
        """Keep the cookies a response's headers set (as a browser would)."""
        self._jar.receive(value for key, value in headers if key.lower() == "set-cookie")

    def get(
        self,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        cookie: str | None = None,
        keep_cookies: bool = True,
    ) -> HttpResponse:
        """GET `path`. `cookie` overrides the jar's Cookie header for this request."""
        return self.request("GET", path, headers=headers, cookie=cookie, keep_cookies=keep_cookies)

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        cookie: str | None = None,
        keep_cookies: bool = True,
        body: bytes | None = None,
    ) -> HttpResponse:
        """Send one request on a fresh connection and read the whole response."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            sent = dict(headers or {})
            header = cookie if cookie is not None else self.cookie_header()
            if header is not None:
                sent["Cookie"] = header
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            parts = list(_read_chunks(response))
            received = tuple((k, v) for k, v in response.getheaders())
        finally:
            connection.close()
        if keep_cookies:
            self.receive(received)
        return HttpResponse(
            status=response.status,
            headers=received,
            body=b"".join(parts),
            chunks=max(len(parts), 1),
        )


def _read_chunks(response: http.client.HTTPResponse) -> Iterator[bytes]:
    while True:
        part = response.read1(65536)
        if not part:
            return
        yield part
