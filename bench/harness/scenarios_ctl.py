"""Control-plane scenario S10: `weft control` serving N simulated ADS clients (weft-adsload).

The config dir holds S ServiceEntries (one HTTP port, STATIC, 5 endpoints each) and one
VirtualService. Once every client has ACKed its initial CDS/LDS/EDS/RDS, the harness asks
adsload for a mark, waits for the mark's acknowledgement, then changes a file: the
VirtualService's destination (a route change, RDS) and one ServiceEntry's endpoint (EDS).
adsload reports, per client, the time from the mark to its ACK of the first response carrying
a new version of that type; the harness reports p50/p99/max, the control plane's CPU seconds
and peak RSS (VmHWM), and bytes per proxy.
"""

import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time

from .procs import Proc, cpu_seconds, free_port, pinned, tree_pids
from .scenarios import NOT_YET
from .targets import Bench

ROUTE_P99_MS = 1000
RSS_BUDGET_KB = 500 * 1024
ENDPOINTS_PER_SERVICE = 5
POLL_MS = 100  # weft control's directory poll: stands in for Istio's watch events
# (services, clients): the issue's size, and a small one for --quick.
FULL = (1000, 2000)
QUICK = (100, 200)


def _service_entry(i: int, endpoint_base: int = 1) -> str:
    host = f"svc-{i}.default.svc.cluster.local"
    eps = "".join(
        f"  - address: 10.{endpoint_base + i // 256}.{i % 256}.{k + 1}\n" for k in range(ENDPOINTS_PER_SERVICE)
    )
    return (
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
        f"metadata:\n  name: svc-{i}\n  namespace: default\n"
        f"spec:\n  hosts:\n  - {host}\n  location: MESH_INTERNAL\n  resolution: STATIC\n"
        "  ports:\n  - number: 80\n    name: http\n    protocol: HTTP\n"
        f"  endpoints:\n{eps}"
    )


def _virtual_service(dest: int, timeout: str | None) -> str:
    extra = f"    timeout: {timeout}\n" if timeout else ""
    return (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        "metadata:\n  name: svc-0\n  namespace: default\n"
        "spec:\n  hosts:\n  - svc-0.default.svc.cluster.local\n  http:\n"
        f"  - route:\n    - destination:\n        host: svc-{dest}.default.svc.cluster.local\n"
        f"{extra}"
    )


def _replace(path: str, text: str) -> None:
    """Writes `path` whole (temp file + rename), so the poller never reads half a file."""
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def write_config(directory: str, services: int) -> None:
    os.makedirs(directory, exist_ok=True)
    # svc-0 gets its own file: the endpoint change rewrites only it.
    _replace(os.path.join(directory, "svc-0.yaml"), _service_entry(0))
    rest = "---\n".join(_service_entry(i) for i in range(1, services))
    _replace(os.path.join(directory, "services.yaml"), rest)
    _replace(os.path.join(directory, "vs.yaml"), _virtual_service(0, None))


class AdsLoad:
    """weft-adsload with piped stdin/stdout, in its own session so it is stopped by group."""

    def __init__(self, argv: list[str], log_path: str):
        self.argv = argv
        self._log = open(log_path, "wb")
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,
            text=True,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            try:
                self.lines.put(json.loads(line))
            except json.JSONDecodeError:
                continue
        self.lines.put(None)

    def send(self, command: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(command + "\n")
        self.popen.stdin.flush()

    def wait_event(self, event: str, limit: float) -> dict:
        deadline = time.monotonic() + limit
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"weft-adsload: no {event!r} within {limit:.0f} s")
            try:
                got = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if got is None:
                raise RuntimeError(f"weft-adsload exited (rc {self.popen.poll()}) before {event!r}")
            if got.get("event") == "error":
                raise RuntimeError(f"weft-adsload: {got.get('error')}")
            if got.get("event") == event:
                return got

    def cpu(self) -> float:
        return cpu_seconds(tree_pids(self.popen.pid)) if self.popen.poll() is None else 0.0

    def stop(self) -> None:
        if self.popen.poll() is None:
            try:
                self.send("quit")
                self.popen.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=3)
        self._log.close()


def _wait_tcp(proc: Proc, port: int, limit: float) -> float:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"weft control exited: {proc.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return time.monotonic() - proc.started
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"weft control: no xDS listener within {limit:.0f} s: {proc.log_tail()}")


def _control_supported(weft: str) -> str | None:
    res = subprocess.run([weft, "control", "--help"], capture_output=True, text=True)
    if res.returncode != 0 or "--config-dir" not in res.stdout:
        return "this weft has no `weft control --config-dir`"
    return None


def _phase(name: str, got: dict, control: Proc, load: AdsLoad, before: tuple[float, float]) -> dict:
    mem = control.memory()
    return {
        "target": "weft",
        "variant": name,
        "clients": got.get("clients"),
        "converged": got.get("converged", got.get("synced")),
        "p50_ms": got.get("p50_ms"),
        "p99_ms": got.get("p99_ms"),
        "max_ms": got.get("max_ms"),
        "cpu_s": control.cpu() - before[0],
        # The clients' own CPU: when it nears the phase's wall time, adsload bounds the figure.
        "client_cpu_s": load.cpu() - before[1],
        "rss_kb": mem["rss_kb"],
        "hwm_kb": mem["hwm_kb"],
        "bytes_per_proxy": got.get("bytes_per_client"),
    }


def _change(load: AdsLoad, control: Proc, label: str, kind: str, write, limit: float) -> dict:
    """Mark, change the config, wait for every client's ACK of the new version."""
    cpu = (control.cpu(), load.cpu())
    load.send(f"mark {label} {kind}")
    load.wait_event("marked", 10)
    write()
    got = load.wait_event("converged", limit)
    return _phase(f"{label} change ({kind.upper()})", got, control, load, cpu)


def _measure(bench: Bench, conf: str, control: Proc, load: AdsLoad, services: int) -> list[dict]:
    big = not bench.s.quick
    ready = load.wait_event("ready", 300 if big else 60)
    rows = [_phase("initial sync", ready, control, load, (0.0, 0.0))]
    rows[0]["max_ms"] = ready["seconds"] * 1000  # the last client's sync, from adsload's start
    time.sleep(1)  # let stragglers' follow-up requests settle before the first mark
    limit = 40
    rows.append(
        _change(
            load, control, "route", "rds",
            lambda: _replace(os.path.join(conf, "vs.yaml"), _virtual_service(1 % services, "3s")),
            limit,
        )
    )
    time.sleep(1)
    rows.append(
        _change(
            load, control, "endpoint", "eds",
            lambda: _replace(os.path.join(conf, "svc-0.yaml"), _service_entry(0, endpoint_base=201)),
            limit,
        )
    )
    return rows


def s10(bench: Bench) -> dict:
    services, clients = QUICK if bench.s.quick else FULL
    scale = f"{services:,} services, {services * ENDPOINTS_PER_SERVICE:,} endpoints, {clients:,} clients"
    adsload_bin = os.path.join(os.path.dirname(bench.weft_bin), "weft-adsload")
    why = _control_supported(bench.weft_bin)
    if why is None and not os.access(adsload_bin, os.X_OK):
        raise RuntimeError(f"no {adsload_bin}: cargo build --release -p weft-adsload")
    if why:
        rows = [{"target": "weft", "variant": scale, "unsupported": why}]
        return {"rows": rows, "summary": "S10 n/a", "verdict": NOT_YET, "commands": []}
    conf = bench.path("s10-config")
    write_config(conf, services)
    xds, http = free_port(), free_port()
    control_argv = [
        bench.weft_bin, "control", "--config-dir", conf, "--xds-address", f"127.0.0.1:{xds}",
        "--http-address", f"127.0.0.1:{http}", "--poll-interval-ms", str(POLL_MS),
    ]
    control = Proc("control", control_argv, bench.s.cpu_proxy, bench.path("control.log"))
    load = None
    try:
        _wait_tcp(control, xds, 120)
        load_argv = [
            adsload_bin, "--address", f"127.0.0.1:{xds}", "--clients", str(clients),
            "--ramp-ms", str(clients), "--duration-s", "900", "--threads", "1",
        ]
        load = AdsLoad(pinned(load_argv, bench.s.cpu_load), bench.path("adsload.log"))
        rows = _measure(bench, conf, control, load, services)
        total_cpu = control.cpu()
        commands = [f"control plane: {bench.show(control.argv)}", f"clients: {bench.show(load.argv)}"]
    finally:
        if load is not None:
            load.stop()
        control.stop()
    for r in rows:
        r["variant"] = f"{r['variant']}, {scale}"
    return _result(rows, total_cpu, commands, clients, services)


def _result(rows: list[dict], total_cpu: float, commands: list[str], clients: int, services: int) -> dict:
    route, endpoint = rows[1], rows[2]
    hwm = max(r["hwm_kb"] for r in rows)

    def f(v, fmt: str) -> str:
        return "n/a" if v is None else format(v, fmt)

    summary = (
        f"S10 route_p99_ms={f(route['p99_ms'], '.0f')} endpoint_p99_ms={f(endpoint['p99_ms'], '.0f')} "
        f"rss_mb={hwm / 1024:.0f} cpu_s={total_cpu:.1f} bytes_per_proxy={f(rows[0]['bytes_per_proxy'], '.0f')} "
        f"(clients={clients} services={services})"
    )
    complete = all(r["converged"] == r["clients"] for r in rows)
    met = complete and route["p99_ms"] is not None and route["p99_ms"] < ROUTE_P99_MS and hwm < RSS_BUDGET_KB
    return {
        "rows": rows,
        "summary": summary,
        "verdict": "met" if met else "NOT met",
        "commands": commands,
        "control_cpu_s": total_cpu,
        "peak_rss_kb": hwm,
    }
