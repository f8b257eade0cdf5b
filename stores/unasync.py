"""Write each store driver's synchronous module from its asyncio one.

The asyncio module is the source; its synchronous twin is the same code with
``async``/``await`` dropped and each asyncio name swapped for its synchronous
counterpart, by the fixed table below (whole words only). Where the two
flavours truly differ (how a reply timeout is enforced, what a pool is
called), the source names a helper whose synchronous twin sits beside it in
the driver's shared module, and the table swaps the names.

    python stores/unasync.py          # rewrite the generated modules
    python stores/unasync.py --check  # exit 1 if one is out of date

``tests/test_unasync.py`` runs the check, so a stale twin fails the tests.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

STORES = Path(__file__).resolve().parent

# Applied in order, each to whole words (or the exact text, for phrases).
COMMON: tuple[tuple[str, str], ...] = (
    ("async def ", "def "),
    ("async with ", "with "),
    ("async for ", "for "),
    ("await ", ""),
    ("__aenter__", "__enter__"),
    ("__aexit__", "__exit__"),
    ("aclose", "close"),
    ("AsyncIterator", "Iterator"),
    ("asynccontextmanager", "contextmanager"),
    ("satchel.AsyncStore", "satchel.Store"),
    ("for asyncio code", "for synchronous code"),
)

# (the asyncio source, the generated module, the driver's own swaps)
PAIRS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "redis/satchel_redis/_async.py",
        "redis/satchel_redis/_sync.py",
        (
            ("import redis.asyncio.retry", "import redis.retry"),
            ("import redis.asyncio", "import redis"),
            ("redis.asyncio.", "redis."),
            ("AsyncRedisStore", "RedisStore"),
            ("_AsyncLane", "_SyncLane"),
            ("AsyncClient", "SyncClient"),
            ("check_async_client", "check_sync_client"),
            ("async_deadline", "sync_deadline"),
            ("an asyncio redis-py client", "a synchronous redis-py client"),
        ),
    ),
    (
        "postgres/satchel_postgres/_async.py",
        "postgres/satchel_postgres/_sync.py",
        (
            ("AsyncPostgresStore", "PostgresStore"),
            ("AsyncConnectionPool", "ConnectionPool"),
            ("AsyncConnection", "Connection"),
            ("async_flavour", "sync_flavour"),
        ),
    ),
)

# Lines from the first marker to the second are left out of the synchronous
# module (an asyncio-only alias, say), the markers with them.
ASYNC_ONLY = re.compile(
    r"^ *# unasync: async only\n.*?^ *# unasync: end\n", re.MULTILINE | re.DOTALL
)


def _pattern(old: str) -> str:
    pattern = re.escape(old)
    if re.match(r"\w", old[0]):
        pattern = r"(?<!\w)" + pattern
    if re.match(r"\w", old[-1]):
        pattern += r"\b"
    return pattern


def generate(source: str, swaps: tuple[tuple[str, str], ...], target: str) -> str:
    """The synchronous module for the asyncio `source` text."""
    # The source's own docstring gives way to the notice.
    text = re.sub(r'^""".*?"""\n', "", source, count=1, flags=re.DOTALL)
    text = ASYNC_ONLY.sub("", text)
    for old, new in (*swaps, *COMMON):
        text = re.sub(_pattern(old), lambda _, new=new: new, text)
    return _tidy(NOTICE + text, target)


def _tidy(text: str, target: str) -> str:
    # Swapped names sort and wrap differently: the project's own import
    # sorting and formatting make the result what ruff would accept.
    for command in (["check", "--fix-only", "--select", "I"], ["format"]):
        text = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "ruff", *command, "--stdin-filename", target, "-"],
            input=text,
            capture_output=True,
            text=True,
            check=True,
            cwd=STORES.parent,
        ).stdout
    return text


NOTICE = '''"""Generated from ``_async.py`` by ``stores/unasync.py``: do not edit."""\n'''


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, only compare) every generated module."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale modules")
    args = parser.parse_args(argv)
    stale = []
    for source, target, swaps in PAIRS:
        source_path, target_path = STORES / source, STORES / target
        if not source_path.exists():
            continue
        wanted = generate(source_path.read_text(encoding="utf-8"), swaps, str(target_path))
        current = target_path.read_text(encoding="utf-8") if target_path.exists() else None
        if current == wanted:
            continue
        stale.append(target)
        if not args.check:
            target_path.write_text(wanted, encoding="utf-8")
    if stale and args.check:
        print("out of date (run python stores/unasync.py):", ", ".join(stale), file=sys.stderr)
        return 1
    for target in stale:
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
