"""A real TCP forwarder between the driver and PostgreSQL, which tests can break.

The system PostgreSQL cannot be stopped by the tests, so the faults are made
here instead: a stopped proxy refuses connections (nothing listens on its
port), stopping it closes every connection through it (a server that died),
and a silent proxy accepts connections and bytes but never forwards anything
(a server that hangs). It also counts the messages clients send, so a test
can count round trips.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from collections import Counter
from typing import Literal

Mode = Literal["forward", "silent"]

# Untyped requests that may precede the startup message.
_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104


def free_port() -> int:
    """A loopback port nothing listens on (at the moment of asking)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _MessageCounter:
    """Splits a client's byte stream into protocol messages and counts their types."""

    def __init__(self, counts: Counter[str], lock: threading.Lock) -> None:
        self._counts = counts
        self._lock = lock
        self._buffer = b""
        self._started = False

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while True:
            if not self._started:
                if len(self._buffer) < 8:
                    return
                length = int.from_bytes(self._buffer[:4], "big")
                if len(self._buffer) < length:
                    return
                code = int.from_bytes(self._buffer[4:8], "big")
                self._buffer = self._buffer[length:]
                if code not in (_SSL_REQUEST, _GSSENC_REQUEST):
                    self._started = True
                continue
            if len(self._buffer) < 5:
                return
            length = int.from_bytes(self._buffer[1:5], "big")
            if len(self._buffer) < 1 + length:
                return
            kind = chr(self._buffer[0])
            self._buffer = self._buffer[1 + length :]
            with self._lock:
                self._counts[kind] += 1


class TcpProxy:
    """Forwards 127.0.0.1:`port` to PostgreSQL; see the module docstring."""

    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._mode: Mode = "forward"
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._stopping = threading.Event()
        self.client_messages: Counter[str] = Counter()

    def dsn(self, timeout_options: str = "") -> str:
        """A DSN reaching PostgreSQL through this proxy (plain TCP, so it can be read)."""
        return (
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
            f"?sslmode=disable&gssencmode=disable{timeout_options}"
        )

    # -- control -----------------------------------------------------------------

    def start(self, mode: Mode = "forward") -> None:
        """Listen on the proxy's port again (the same port every time)."""
        assert self._listener is None, "already started"
        self._mode = mode
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._stopping.clear()
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()

    def stop(self) -> None:
        """Stop listening and close every connection through the proxy."""
        listener, acceptor = self._listener, self._acceptor
        self._listener = self._acceptor = None
        self._stopping.set()
        if acceptor is not None:
            acceptor.join(timeout=5)
        if listener is not None:
            listener.close()
        self._close_all()

    def set_mode(self, mode: Mode) -> None:
        """Switch between forwarding and silence.

        Going back to forwarding closes every connection made or frozen while
        silent (their streams lost bytes), as a restarted server would.
        """
        with self._lock:
            self._mode = mode
        if mode == "forward":
            self._close_all()

    def round_trips(self) -> int:
        """Requests clients sent that each wait for the server's answer.

        A simple query ('Q') or the Sync ('S') ending an extended-protocol
        exchange.
        """
        with self._lock:
            return self.client_messages["Q"] + self.client_messages["S"]

    def reset_counts(self) -> None:
        """Forget the messages counted so far."""
        with self._lock:
            self.client_messages.clear()

    # -- plumbing ----------------------------------------------------------------

    def _silent(self) -> bool:
        with self._lock:
            return self._mode == "silent"

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _close_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            while not self._stopping.is_set():
                if not selector.select(timeout=0.05):
                    continue
                try:
                    client, _ = listener.accept()
                except OSError:
                    return
                self._track(client)
                if self._silent():
                    threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                    continue
                try:
                    server = socket.create_connection(self.upstream, timeout=5)
                except OSError:
                    client.close()
                    continue
                server.settimeout(None)
                self._track(server)
                counter = _MessageCounter(self.client_messages, self._lock)
                threading.Thread(
                    target=self._pump, args=(client, server, counter), daemon=True
                ).start()
                threading.Thread(
                    target=self._pump, args=(server, client, None), daemon=True
                ).start()

    def _swallow(self, sock: socket.socket) -> None:
        # Read and drop everything, answering nothing, until closed.
        with contextlib.suppress(OSError):
            while sock.recv(65536):
                pass

    def _pump(
        self, source: socket.socket, target: socket.socket, counter: _MessageCounter | None
    ) -> None:
        try:
            while data := source.recv(65536):
                if self._silent():
                    continue  # a hung server: bytes go nowhere
                if counter is not None:
                    counter.feed(data)
                target.sendall(data)
        except OSError:
            pass
        # One side hung up: hang up the other, as a dying server would.
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
