"""Write the committed seed corpus: ``python -m fuzz.seeds``.

A handful of small inputs per target, each a realistic starting point the
fuzzer mutates: real headers, real session cookies and real records made by
the library. Re-running it rewrites the files (sealed values differ each
time, as their nonces are random).
"""

from __future__ import annotations

import datetime as dt

from satchel._record import EMPTY_MAP_BLOB, pack_map, pack_record

from .run import ROOT
from .session_exchange import MATERIALS, T0

__all__ = ["seeds"]


def _exchange_seed(selectors: tuple[int, int, int, int], position: int, text: str) -> bytes:
    """An input for session_exchange: see the layout in its docstring."""
    return bytes(selectors) + position.to_bytes(2, "big") + text.encode()


def seeds() -> dict[str, dict[str, bytes]]:
    """Target name → file name → content."""
    plain, chunked, server = MATERIALS[:3]
    cookie = f"{plain.pairs[0][0]}={plain.pairs[0][1]}"
    chunks = "; ".join(f"{name}={value}" for name, value in chunked.pairs)
    record = pack_record(
        created_at=T0,
        last_access=T0 + 60,
        flash_blob=pack_map({"notice": "saved"}),
        data_blob=pack_map(
            {
                "user": "alice",
                "visits": 3,
                "cart": [{"sku": "A-1", "qty": 2}],
                "seen": dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
                "raw": b"\x00\x01",
                "ratio": 0.25,
                "admin": False,
                "none": None,
            }
        ),
    )
    return {
        "cookie_header": {
            "browser": b"\x00theme=dark; lang=en-GB; _ga=GA1.2.3.4; session="
            + plain.pairs[0][1].encode(),
            "quoted-json": b'\x00a="b"; prefs={"a":1,"b":[2,3]}; c=d e; f=g,h;  x = y ; =z; k',
            "split-utf8": b"\x05a=1\nb=\xc3\xa9t\xc3\xa9\n\tc=3;;d=\x7f",
            "many": b"\x20n=v",
            "at-cap": b"\x10a=b; c=d; e=f; g=h",
        },
        "session_exchange": {
            "raw-cookie": _exchange_seed((0, 0, 0, 3), 0, f"theme=dark; {cookie}"),
            "raw-chunks": _exchange_seed((1, 0, 1, 2), 0, chunks),
            "raw-server": _exchange_seed(
                (2, 0, 0, 5), 0, f"{server.pairs[0][0]}={server.pairs[0][1]}"
            ),
            "flip": _exchange_seed((0, 1, 0, 3), 40, "A"),
            "truncate-chunk": _exchange_seed((1, 6, 4, 4), 0x101, "Zm9v"),
            "duplicate-server": _exchange_seed((2, 5, 0, 1), 0, ""),
        },
        "record_unpack": {
            "empty": pack_record(
                created_at=T0, last_access=T0, flash_blob=EMPTY_MAP_BLOB, data_blob=EMPTY_MAP_BLOB
            ),
            "typical": record,
            "owned": pack_record(
                created_at=T0,
                last_access=T0,
                flash_blob=EMPTY_MAP_BLOB,
                data_blob=pack_map({"user": "alice"}),
                owner="user-42",
                label="Firefox on Linux",
            ),
        },
        "set_cookie": {
            "zeros": bytes(64),
            "ones": b"\x01" * 64,
            "mixed": bytes(range(256)),
        },
    }


def main() -> None:
    """Write the seed files under fuzz/corpus/."""
    for target, files in seeds().items():
        folder = ROOT / "fuzz" / "corpus" / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (folder / name).write_bytes(content)


if __name__ == "__main__":
    main()
