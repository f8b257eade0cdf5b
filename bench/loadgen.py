"""Load generation for the end-to-end benchmark, always in a process of its own.

`run_load` drives ``wrk`` when it is installed, or else this file run as a
script: a small asyncio HTTP/1.1 keep-alive client. Either way there is one
connection per session cookie, and each connection sends its own cookie on
every request, one request at a time, for a bounded time. Both print one line,
``BENCH {json}``, with what was completed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import HOST, python, spawn, stop

_WRK_SCRIPT = """
local cookies = {%(cookies)s}
local count = 0
function setup(thread)
  count = count + 1
  thread:set("cookie", cookies[(count - 1) %% #cookies + 1])
end
function init(args)
  wrk.headers["Cookie"] = cookie
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %%d, "duration_s": %%.6f, "connect_errors": %%d, "read_errors": %%d, ' ..
    '"write_errors": %%d, "non_2xx": %%d, "timeouts": %%d, "p50_ms": %%.3f, "p99_ms": %%.3f}\\n',
    summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def tool() -> str:
    """``"wrk"`` if it is on PATH, else ``"python"`` (this file's client)."""
    return "wrk" if shutil.which("wrk") else "python"


def run_load(
    port: int, cookies: list[str], seconds: float, *, cpu: int | None, generator: str
) -> dict[str, Any]:
    """Load ``GET /`` on `port` for `seconds`, one connection per cookie."""
    with tempfile.TemporaryDirectory(prefix="satchel-bench-load-") as folder:
        if generator == "wrk":
            script = Path(folder) / "cookies.lua"
            script.write_text(
                _WRK_SCRIPT % {"cookies": ", ".join(f"[==[{c}]==]" for c in cookies)},
                encoding="utf-8",
            )
            command = [
                shutil.which("wrk") or "wrk",
                f"-t{len(cookies)}",
                f"-c{len(cookies)}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "5s",
                "-s",
                str(script),
                f"http://{HOST}:{port}/",
            ]
        else:
            spec = Path(folder) / "cookies.json"
            spec.write_text(json.dumps(cookies), encoding="utf-8")
            command = [python(), __file__, str(port), str(seconds), str(spec)]
        output = Path(folder) / "out.txt"
        with output.open("wb") as sink:
            process = spawn(command, cpu=cpu, stdout=sink, stderr=subprocess.STDOUT)
            try:
                process.wait(timeout=seconds + 30)
            finally:
                stop(process)
        text = output.read_text(encoding="utf-8", errors="replace")
    for line in text.splitlines():
        if line.startswith("BENCH "):
            result: dict[str, Any] = json.loads(line[6:])
            result["generator"] = generator
            return result
    raise RuntimeError(f"the load generator printed no result:\n{text[-2000:]}")


# -- the fallback client --------------------------------------------------------------


async def _connection(
    port: int, cookie: str, deadline: float, latencies: list[float], counts: dict[str, int]
) -> None:
    request = f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nCookie: {cookie}\r\n\r\n".encode("latin-1")
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
    except OSError:
        counts["connect_errors"] += 1
        return
    try:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            status = int(head.split(b" ", 2)[1])
            length = None
            chunked = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            if chunked:
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            elif length is not None:
                await reader.readexactly(length)
            else:
                counts["read_errors"] += 1
                return
            latencies.append(time.perf_counter() - start)
            counts["requests"] += 1
            if not 200 <= status < 400:
                counts["non_2xx"] += 1
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        counts["read_errors"] += 1
    except TimeoutError:
        counts["timeouts"] += 1
    finally:
        writer.close()


async def _load(port: int, seconds: float, cookies: list[str]) -> dict[str, Any]:
    counts = dict.fromkeys(
        ("requests", "connect_errors", "read_errors", "write_errors", "non_2xx", "timeouts"), 0
    )
    latencies: list[float] = []
    start = time.monotonic()
    deadline = start + seconds
    await asyncio.gather(
        *(_connection(port, cookie, deadline, latencies, counts) for cookie in cookies)
    )
    duration = time.monotonic() - start
    ordered = sorted(latencies) or [0.0]
    return {
        **counts,
        "duration_s": duration,
        "p50_ms": statistics.median(ordered) * 1e3,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("seconds", type=float)
    parser.add_argument("cookies", type=Path, help="a JSON list of Cookie header values")
    args = parser.parse_args(argv)
    cookies = json.loads(args.cookies.read_text(encoding="utf-8"))
    result = asyncio.run(_load(args.port, args.seconds, cookies))
    print("BENCH " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
