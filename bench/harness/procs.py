"""Processes the harness starts: pinning, CPU and memory readings from /proc, readiness, cleanup.

Every process is started in its own session so that it (and whatever it forks, e.g. nginx's
worker) can be stopped by its own process-group id; nothing is ever stopped by name.
"""

import atexit
import http.client
import os
import shutil
import signal
import socket
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

_LIVE: list["Proc"] = []


def pinned(argv: list[str], cpu: str | None) -> list[str]:
    """`argv` run under `taskset -c CPU` when a CPU is given and taskset exists."""
    if cpu is None or shutil.which("taskset") is None:
        return list(argv)
    return ["taskset", "-c", cpu, *argv]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    # comm may hold spaces and parentheses: the fields start after the last ')'.
    return text[text.rfind(")") + 2 :].split()


def tree_pids(root: int) -> list[int]:
    """`root` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(int(name))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """utime+stime (all threads) of the given processes, in seconds."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLK_TCK


def memory_kb(pids: list[int]) -> dict[str, int]:
    """Sum of VmRSS and of VmHWM (peak RSS) over the given processes, in KiB."""
    total = {"rss_kb": 0, "hwm_kb": 0}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total["rss_kb"] += int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        total["hwm_kb"] += int(line.split()[1])
        except OSError:
            continue
    return total


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


class Proc:
    """A long-running process (backend or proxy) with its log in the work directory."""

    def __init__(self, name: str, argv: list[str], cpu: str | None, log_path: str, env=None):
        self.name = name
        self.argv = pinned(argv, cpu)
        self.log_path = log_path
        self._log = open(log_path, "wb")
        merged = dict(os.environ, **(env or {}))
        self.started = time.monotonic()
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=merged,
        )
        _LIVE.append(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def pids(self) -> list[int]:
        return tree_pids(self.pid) if self.alive() else []

    def cpu(self) -> float:
        return cpu_seconds(self.pids())

    def memory(self) -> dict[str, int]:
        return memory_kb(self.pids())

    def log_tail(self, lines: int = 5) -> str:
        self._log.flush()
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return " | ".join(line.strip() for line in f.readlines()[-lines:] if line.strip())
        except OSError:
            return ""

    def stop(self) -> None:
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=3)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(timeout=3)
        self._log.close()
        if self in _LIVE:
            _LIVE.remove(self)


def stop_all() -> None:
    for proc in list(_LIVE):
        proc.stop()


atexit.register(stop_all)


def http_probe(port: int, host: str, path: str, timeout: float = 1.0) -> int | str:
    """Status of one HTTP/1.1 GET, or the error text."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException) as e:
        return f"{type(e).__name__}: {e}"
    finally:
        conn.close()


def wait_http(proc: Proc | None, port: int, host: str, path: str, limit: float) -> tuple[bool, str, float]:
    """Poll until GET returns 200. Returns (ok, last status or reason, seconds since start)."""
    start = proc.started if proc else time.monotonic()
    deadline = time.monotonic() + limit
    last: int | str = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            return False, f"exited with {proc.popen.returncode}: {proc.log_tail()}", 0.0
        last = http_probe(port, host, path, timeout=0.5)
        if last == 200:
            return True, "200", time.monotonic() - start
        time.sleep(0.005)
    return False, f"no 200 within {limit:.0f}s (last: {last})", 0.0
