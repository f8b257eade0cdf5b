"""``python -m soak._proxy UPSTREAM_PORT``: a PostgreSQL TCP proxy in its own process.

It prints the port it listens on, then obeys one command per line on stdin
(``stop``: stop listening and drop every connection; ``start``: listen
again), answering ``ok`` to each. It ends when stdin closes.
"""

from __future__ import annotations

import sys

from tests.postgres.proxy import TcpProxy


def main(argv: list[str]) -> int:
    """Run the proxy until stdin closes."""
    proxy = TcpProxy(("127.0.0.1", int(argv[0])))
    proxy.start()
    print(proxy.port, flush=True)
    try:
        for line in sys.stdin:
            word = line.strip()
            if word == "stop":
                proxy.stop()
            elif word == "start":
                proxy.start()
            else:
                print(f"unknown command {word!r}", flush=True)
                continue
            print("ok", flush=True)
    finally:
        proxy.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
