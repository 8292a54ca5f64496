"""Load generators: wrk (HTTP/1.1 keep-alive), h2load (h2c), and an asyncio client that holds
idle connections open. Every load is bounded in time (wrk/h2load -d) or count (idle client)."""

import asyncio
import json
import os
import re
import subprocess
import tempfile
import time

from .procs import pinned

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WRK_LUA = os.path.join(HERE, "wrk-report.lua")


class LoadError(RuntimeError):
    pass


def _run_timed(argv: list[str], limit: float) -> tuple[int, str, float]:
    """Run to completion; returns (exit code, output, CPU seconds of the load generator)."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + limit
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", errors="replace")
    return proc.returncode, text, usage.ru_utime + usage.ru_stime


def wrk_argv(port: int, host: str, path: str, conns: int, seconds: int) -> list[str]:
    return [
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        WRK_LUA,
        "-H",
        f"Host: {host}",
        f"http://127.0.0.1:{port}{path}",
    ]


def wrk(port: int, host: str, path: str, conns: int, seconds: int, cpu: str | None) -> dict:
    argv = pinned(wrk_argv(port, host, path, conns, seconds), cpu)
    code, text, load_cpu = _run_timed(argv, seconds + 30)
    match = re.search(r"^WRKJSON (\{.*\})$", text, re.M)
    if code != 0 or not match:
        raise LoadError(f"wrk failed (exit {code}): {text.strip()[-400:]}")
    r = json.loads(match.group(1))
    errors = sum(r[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    return {
        "requests": r["requests"],
        "seconds": r["duration_us"] / 1e6,
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "p50_us": r["p50_us"],
        "p90_us": r["p90_us"],
        "p99_us": r["p99_us"],
        "errors": errors,
        "error_detail": {k: r[k] for k in r if k.endswith("errors") or k == "timeouts"},
        "loadgen_cpu_s": load_cpu,
    }


def h2load_argv(
    port: int,
    host: str,
    path: str,
    conns: int,
    streams: int,
    seconds: int,
    log: str,
    rate: int | None = None,
) -> list[str]:
    """h2c by default; with `rate` (requests/s in total), HTTP/1.1 keep-alive at that fixed
    rate spread evenly over the connections (`--h1 --rps`, S3)."""
    paced = [] if rate is None else ["--h1", f"--rps={max(rate // conns, 1)}"]
    return [
        "h2load",
        "-t1",
        f"-c{conns}",
        f"-m{streams}",
        f"-D{seconds}",
        *paced,
        f"--log-file={log}",
        "-H",
        f":authority: {host}",
        f"http://127.0.0.1:{port}{path}",
    ]


def _percentile(sorted_values: list[int], pct: float) -> int:
    if not sorted_values:
        return 0
    idx = min(len(sorted_values) - 1, int(round(pct / 100 * (len(sorted_values) - 1))))
    return sorted_values[idx]


def h2load(
    port: int,
    host: str,
    path: str,
    conns: int,
    streams: int,
    seconds: int,
    cpu: str | None,
    rate: int | None = None,
) -> dict:
    with tempfile.NamedTemporaryFile(prefix="h2load-", suffix=".log") as log:
        argv = pinned(h2load_argv(port, host, path, conns, streams, seconds, log.name, rate), cpu)
        code, text, load_cpu = _run_timed(argv, seconds + 30)
        durations, non2xx = [], 0
        with open(log.name, encoding="ascii", errors="replace") as f:
            for line in f:
                cols = line.split("\t")
                if len(cols) >= 3:
                    durations.append(int(cols[2]))
                    non2xx += not cols[1].startswith("2")
    fin = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", text)
    req = re.search(
        r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout",
        text,
    )
    if code != 0 or not fin or not req:
        raise LoadError(f"h2load failed (exit {code}): {text.strip()[-400:]}")
    durations.sort()
    succeeded = int(req.group(4))
    return {
        "requests": succeeded,
        "seconds": float(fin.group(1)) / (1000 if fin.group(2) == "ms" else 1),
        "rps": float(fin.group(3)),
        "p50_us": _percentile(durations, 50),
        "p90_us": _percentile(durations, 90),
        "p99_us": _percentile(durations, 99),
        "errors": int(req.group(5)) + int(req.group(6)) + int(req.group(7)) + non2xx,
        "error_detail": {
            "failed": int(req.group(5)),
            "errored": int(req.group(6)),
            "timeout": int(req.group(7)),
            "non2xx": non2xx,
        },
        "loadgen_cpu_s": load_cpu,
    }


async def _open_one(port: int, request: bytes | None) -> tuple[asyncio.StreamWriter, bool]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if request is None:
        return writer, True
    writer.write(request)
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    if length:
        await asyncio.wait_for(reader.readexactly(int(length.group(1))), 5)
    return writer, head.startswith(b"HTTP/1.1 200")


async def _hold(port: int, n: int, request: bytes | None, settle: float, measure):
    gate = asyncio.Semaphore(64)
    writers, failed = [], 0

    async def one():
        nonlocal failed
        async with gate:
            try:
                writer, ok = await _open_one(port, request)
                writers.append(writer)
                failed += not ok
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                failed += 1

    start = time.monotonic()
    await asyncio.gather(*(one() for _ in range(n)))
    opened = time.monotonic() - start
    await asyncio.sleep(settle)
    value = measure()
    for w in writers:
        w.close()
    await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)
    return {"open": len(writers), "failed": failed, "open_seconds": opened, "measured": value}


def hold_idle(port: int, n: int, host: str | None, settle: float, measure) -> dict:
    """Open n connections (each sending one GET first when host is given), wait `settle`
    seconds, call measure() while they are all open and idle, then close them."""
    request = None
    if host is not None:
        request = f"GET {'/api/idle'} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    return asyncio.run(_hold(port, n, request, settle, measure))
