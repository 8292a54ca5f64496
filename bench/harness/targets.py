"""The things a scenario puts load on: `direct` (the nginx backend itself), `weft`, `haproxy`,
`nginx`. Each is started fresh for a scenario with a generated config, pinned to the proxy
CPU, and probed until it answers 200 on the routed path; a weft that cannot start or route
becomes a row saying "weft: not supported yet" instead of failing the run."""

import os
import shlex
import subprocess
from dataclasses import dataclass, field

from . import configs
from .procs import Proc, free_port, wait_http


@dataclass
class Settings:
    quick: bool
    runs: int
    seconds: int
    warmup: int
    idle_conns: int
    scale_sizes: list[int]
    cpu_load: str | None
    cpu_backend: str | None
    cpu_proxy: str | None


@dataclass
class Target:
    name: str
    port: int = 0
    h2c_port: int = 0
    proc: Proc | None = None
    unsupported: str | None = None
    ready_s: float = 0.0
    idle_mem: dict = field(default_factory=dict)
    command: str = ""
    config_path: str = ""
    stats: dict = field(default_factory=dict)  # where its counters are read (admin port, socket)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


class Bench:
    """Run-wide state: settings, the work dir, the weft binary and the shared backend."""

    def __init__(self, repo: str, settings: Settings, weft_bin: str, weft_caps: dict, work: str):
        self.repo = repo
        self.s = settings
        self.weft_bin = weft_bin
        self.weft_caps = weft_caps
        self.work = work
        self.backend = configs.Backend(free_port(), free_port(), free_port())
        self.backend_proc: Proc | None = None
        self.backend_cmd = ""

    def show(self, argv: list[str]) -> str:
        """A command as the report prints it: shell-quoted, the work dir as $WORK, repo-relative."""
        text = shlex.join(argv).replace(self.work, "$WORK")
        return text.replace(self.repo + "/", "")

    def path(self, name: str) -> str:
        return os.path.join(self.work, name)

    def write(self, name: str, text: str) -> str:
        with open(self.path(name), "w", encoding="utf-8") as f:
            f.write(text)
        return self.path(name)

    def start_backend(self) -> None:
        cfg = self.write(
            "backend.nginx.conf", configs.nginx_backend(self.work, self.backend, self.s.idle_conns)
        )
        argv = ["nginx", "-p", self.work, "-c", cfg, "-g", "daemon off;"]
        self.backend_proc = Proc("backend", argv, self.s.cpu_backend, self.path("backend.log"))
        self.backend_cmd = self.show(self.backend_proc.argv)
        ok, why, _ = wait_http(self.backend_proc, self.backend.h1, configs.HOST, configs.PATH, 10)
        if not ok:
            raise RuntimeError(f"the nginx backend did not start: {why}")

    def _spawn(self, t: Target, argv: list[str], probe_host: str, probe_path: str, limit: float) -> Target:
        env = {"RUST_LOG": os.environ.get("WEFT_BENCH_RUST_LOG", "warn")} if t.name == "weft" else None
        t.proc = Proc(t.name, argv, self.s.cpu_proxy, self.path(f"{t.name}-{t.port}.log"), env)
        t.command = self.show(t.proc.argv)
        ok, why, ready = wait_http(t.proc, t.port, probe_host, probe_path, limit)
        if not ok:
            t.stop()
            t.proc = None
            t.unsupported = why if t.name == "weft" else None
            if t.name != "weft":
                raise RuntimeError(f"{t.name} did not start ({t.command}): {why}")
            return t
        t.ready_s = ready
        t.idle_mem = t.proc.memory()
        return t

    def _weft_argv(self, bootstrap: str) -> list[str]:
        argv = [self.weft_bin, "proxy", "--bootstrap", bootstrap]
        if self.weft_caps.get("concurrency"):
            argv += ["--concurrency", "1"]
        if self.weft_caps.get("drain_time"):
            argv += ["--drain-time", "0s"]  # stopping between scenarios need not wait
        return argv

    def start(self, name: str, kind: str) -> Target:
        """Start `name` for `kind` ("http": h1 + h2c routing, "tcp": L4 to the backend)."""
        b = self.backend
        if name == "direct":
            return Target("direct", b.h1, b.h2c, command=self.backend_cmd)
        t = Target(name, free_port(), free_port())
        if name == "weft":
            if not self.weft_caps.get("proxy"):
                t.unsupported = self.weft_caps.get("reason", "no weft proxy")
                return t
            t.h2c_port = t.port  # codec AUTO: one listener serves both
            admin = free_port()
            text = (
                configs.weft_http(b, t.port, admin) if kind == "http" else configs.weft_tcp(b, t.port, admin)
            )
            t.config_path = self.write(f"weft-{kind}.yaml", text)
            return self._spawn(t, self._weft_argv(t.config_path), configs.HOST, configs.PATH, 15)
        c = self.s.idle_conns
        if name == "haproxy":
            text = (
                configs.haproxy_http(b, t.port, t.h2c_port, c)
                if kind == "http"
                else configs.haproxy_tcp(b, t.port, c)
            )
            t.config_path = self.write(f"haproxy-{kind}.cfg", text)
            return self._spawn(t, ["haproxy", "-db", "-f", t.config_path], configs.HOST, configs.PATH, 10)
        if name == "nginx" and kind == "http":
            t.config_path = self.write(
                "nginx-proxy.conf", configs.nginx_proxy(self.work, b, t.port, t.h2c_port, c)
            )
            argv = ["nginx", "-p", self.work, "-c", t.config_path, "-g", "daemon off;"]
            return self._spawn(t, argv, configs.HOST, configs.PATH, 10)
        raise ValueError(f"no {name} target for {kind}")

    def start_weft_scale(self, n: int) -> Target:
        t = Target("weft", free_port())
        if not self.weft_caps.get("proxy"):
            t.unsupported = self.weft_caps.get("reason", "no weft proxy")
            return t
        text = configs.weft_scale(self.backend, t.port, free_port(), n)
        t.config_path = self.write(f"weft-scale-{n}.yaml", text)
        return self._spawn(t, self._weft_argv(t.config_path), f"svc-{n - 1}.bench", "/", 60)

    def start_haproxy_scale(self, n: int) -> Target:
        t = Target("haproxy", free_port())
        map_path = self.write(f"haproxy-scale-{n}.map", configs.haproxy_scale_map(n))
        t.config_path = self.write(
            f"haproxy-scale-{n}.cfg",
            configs.haproxy_scale(self.backend, t.port, n, map_path, self.s.idle_conns),
        )
        return self._spawn(t, ["haproxy", "-db", "-f", t.config_path], f"svc-{n - 1}.bench", "/", 60)


def h2c_works(port: int, host: str) -> str | None:
    """None when one h2c (prior knowledge) request succeeds, else the reason."""
    argv = ["h2load", "-n1", "-c1", "-H", f":authority: {host}", f"http://127.0.0.1:{port}{configs.PATH}"]
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return "h2c request timed out"
    if "1 succeeded" in res.stdout and "status codes: 1 2xx" in res.stdout:
        return None
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith(("requests:", "status codes:"))]
    return "h2c request failed: " + "; ".join(lines or [res.stdout.strip()[-200:]])
