"""``python -m satchel keygen``: print a fresh random secret for a Keyring."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._keyring import generate_secret


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m satchel", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "keygen",
        help="print a fresh random secret (32 bytes, base64url) for Keyring([...])",
    )
    parser.parse_args(argv)
    sys.stdout.write(generate_secret() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
