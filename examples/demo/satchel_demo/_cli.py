"""``satchel-demo``: run the demo app on any framework and store."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import cast

from satchel import ConfigurationError, Keyring, SatchelWarning, Settings

from ._config import DemoConfig, Framework, StoreName, make_store

__all__ = ["main"]

FRAMEWORKS = ("aiohttp", "tornado", "wsgi", "asgi", "flask")
STORES = ("memory", "sqlite", "cookie", "redis", "postgres")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="satchel-demo", description="The satchel demo: classic session routes."
    )
    parser.add_argument("--framework", choices=FRAMEWORKS, default="aiohttp")
    parser.add_argument("--store", choices=STORES, default="memory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--idle-timeout", type=float, default=1800.0, metavar="SECONDS", help="default 1800"
    )
    parser.add_argument(
        "--secret",
        default=os.environ.get("SATCHEL_SECRET"),
        help="a secret for the keyring (default: $SATCHEL_SECRET, else a throwaway one)",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--postgres-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--sqlite-path", default="satchel-demo.sqlite3")
    parser.add_argument(
        "--redis-prefix", default=None, help="the Redis key prefix (default: the driver's)"
    )
    parser.add_argument(
        "--postgres-schema", default=None, help="the PostgreSQL schema (default: the driver's)"
    )
    return parser


def build_config(args: argparse.Namespace) -> DemoConfig:
    """Settings and store from the command line (raises `ConfigurationError`)."""
    if args.secret:
        keyring = Keyring([args.secret])
    else:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SatchelWarning)
            keyring = Keyring.throwaway()
        print(
            "satchel-demo: no --secret or $SATCHEL_SECRET given; using a throwaway "
            "keyring (sessions end when the demo stops)",
            file=sys.stderr,
        )
    idle = float(args.idle_timeout)
    settings = Settings(
        keyring=keyring,
        # The demo serves plain HTTP on loopback, where browsers drop Secure cookies.
        secure=False,
        idle_timeout=idle,
        absolute_timeout=max(idle, 43200.0),
        touch_interval=min(idle / 10, 180.0),
    )
    framework = cast(Framework, args.framework)
    store = make_store(
        cast(StoreName, args.store),
        # WSGI and Flask run synchronous stores; the others the asyncio flavour.
        asynchronous=framework not in ("wsgi", "flask"),
        sqlite_path=args.sqlite_path,
        redis_url=args.redis_url,
        postgres_dsn=args.postgres_dsn,
        redis_prefix=args.redis_prefix,
        postgres_schema=args.postgres_schema,
    )
    return DemoConfig(settings=settings, store=store, host=args.host, port=args.port)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``satchel-demo``."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        config = build_config(args)
    except ConfigurationError as error:
        print(f"satchel-demo: configuration error: {error}", file=sys.stderr)
        return 2
    print(
        f"satchel-demo: {args.framework} with the {args.store} store on "
        f"http://{config.host}:{config.port}/ (idle timeout {config.settings.idle_timeout:g} s)\n"
        "satchel-demo: the Secure cookie attribute is OFF because the demo serves plain "
        "HTTP on loopback; never turn it off in production",
        file=sys.stderr,
        flush=True,
    )
    if args.framework == "aiohttp":
        from ._aiohttp import serve
    elif args.framework == "tornado":
        from ._tornado import serve
    elif args.framework == "asgi":
        from ._asgi import serve
    elif args.framework == "flask":
        from ._flask import serve
    else:
        from ._wsgi import serve
    serve(config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
