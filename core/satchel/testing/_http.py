"""A small real HTTP client that keeps cookies, for adapter tests.

It speaks HTTP/1.1 over a real socket (``http.client``), never follows
redirects on its own, and keeps cookies the way a browser does for one
origin: Set-Cookie replaces, Max-Age/Expires expire (on the wall clock),
and browser-session cookies live until `close_browser`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import os
import socket
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

    def websocket_handshake(
        self,
        path: str,
        *,
        cookie: str | None = None,
        keep_cookies: bool = True,
    ) -> HttpResponse:
        """Open a websocket at `path`, read the handshake's answer, close.

        Sends the HTTP/1.1 Upgrade request (RFC 6455) with the jar's cookies,
        reads the status line and headers, and, on ``101``, checks
        ``Sec-WebSocket-Accept`` and sends a close frame before hanging up.
        The returned response has the handshake's status and headers and an
        empty body (``101`` when the server accepted).

        Raises:
            AssertionError: a ``101`` whose ``Sec-WebSocket-Accept`` is wrong.
            OSError: the connection failed.

        """
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        header = cookie if cookie is not None else self.cookie_header()
        if header is not None:
            lines.append(f"Cookie: {header}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        with socket.create_connection((self.host, self.port), timeout=self.timeout) as sock:
            sock.sendall(request)
            head = _read_head(sock)
            status, received = _parse_head(head)
            if status == 101:
                expected = base64.b64encode(
                    hashlib.sha1((key + _WEBSOCKET_GUID).encode("ascii")).digest()  # noqa: S324 (RFC 6455)
                ).decode("ascii")
                accept = [v for k, v in received if k.lower() == "sec-websocket-accept"]
                assert accept == [expected], ("bad Sec-WebSocket-Accept", accept, expected)
                # The server may have closed first; the handshake is what counts.
                with contextlib.suppress(OSError):
                    sock.sendall(_CLOSE_FRAME)
        if keep_cookies:
            self.receive(received)
        return HttpResponse(status=status, headers=received, body=b"")


_WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# A masked close frame with code 1000 (clients must mask; the mask is all zeros).
_CLOSE_FRAME = bytes([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8])


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(4096)
        if not part:
            break
        data += part
        if len(data) > 65536:
            raise AssertionError("handshake answer headers larger than 64 KiB")
    return data.split(b"\r\n\r\n", 1)[0]


def _parse_head(head: bytes) -> tuple[int, tuple[tuple[str, str], ...]]:
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise AssertionError(f"not an HTTP answer to the websocket handshake: {status_line!r}")
    headers = []
    for line in header_lines:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return int(parts[1]), tuple(headers)


def _read_chunks(response: http.client.HTTPResponse) -> Iterator[bytes]:
    while True:
        part = response.read1(65536)
        if not part:
            return
        yield part
