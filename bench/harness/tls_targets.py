"""Starting the TLS targets: S3's sidecar pairs (proxy A outbound, proxy B inbound; weft or
haproxy; plaintext or mTLS between them) and S7's single TLS-terminating listener, each
probed until it answers 200 and, for TLS, checked to really speak it.

A pair is one `Target` whose `proc` is a `PairProc`, so the shared measuring code reads the CPU
and memory of both proxies summed. weft that cannot do TLS yet (a bootstrap it rejects, a
listener that answers plaintext) becomes a row saying "weft: not supported yet"; a baseline
that fails stops the scenario.
"""

import http.client
import json
import re
import socket
import ssl
import time
import urllib.request

from . import configs, configs_tls
from .configs_tls import Pki
from .procs import Proc, free_port, wait_http
from .targets import Bench, Target


class PairProc:
    """Two proxies measured as one: CPU and memory summed, stopped together."""

    def __init__(self, a: Proc, b: Proc):
        self.parts = [a, b]

    def cpu(self) -> float:
        return sum(p.cpu() for p in self.parts)

    def memory(self) -> dict[str, int]:
        total = {"rss_kb": 0, "hwm_kb": 0}
        for p in self.parts:
            for k, v in p.memory().items():
                total[k] += v
        return total

    def alive(self) -> bool:
        return all(p.alive() for p in self.parts)

    def stop(self) -> None:
        for p in self.parts:
            p.stop()


def tls_context(pki: Pki, client_cert: bool) -> ssl.SSLContext:
    """A client context trusting the run's CA; our leaves carry URI SANs only, so no hostname check."""
    ctx = ssl.create_default_context(cafile=pki.ca)
    ctx.check_hostname = False
    if client_cert:
        ctx.load_cert_chain(pki.client_crt, pki.client_key)
    return ctx


def https_probe(port: int, ctx: ssl.SSLContext, host: str, path: str, timeout: float = 1.0) -> int | str:
    """Status of one GET over TLS, or the error text."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException, ssl.SSLError) as e:
        return f"{type(e).__name__}: {e}"
    finally:
        conn.close()


def wait_https(proc: Proc, port: int, ctx: ssl.SSLContext, limit: float) -> tuple[bool, str]:
    deadline = time.monotonic() + limit
    last: int | str = "no answer"
    while time.monotonic() < deadline:
        if not proc.alive():
            return False, f"exited with {proc.popen.returncode}: {proc.log_tail()}"
        last = https_probe(port, ctx, configs.HOST, configs.PATH, timeout=0.5)
        if last == 200:
            return True, "200"
        time.sleep(0.01)
    return False, f"no 200 over TLS within {limit:.0f}s (last: {last})"


def refuses_without_client_cert(port: int, pki: Pki) -> str | None:
    """None when both plaintext HTTP and TLS without a client certificate fail to get a 200."""
    from .procs import http_probe

    plain = http_probe(port, configs.HOST, configs.PATH, timeout=1.0)
    if plain == 200:
        return "the mTLS port answered plaintext HTTP with 200"
    anonymous = https_probe(port, tls_context(pki, False), configs.HOST, configs.PATH)
    if anonymous == 200:
        return "the mTLS port answered a client without a certificate with 200"
    return None


def weft_stat(admin_port: int, name: str) -> int | None:
    """One counter from weft's admin `/stats` (Envoy's `name: value` text), None when absent."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/stats", timeout=2) as resp:
            text = resp.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + ": "):
            return int(line.split(": ", 1)[1].strip())
    return None


def haproxy_info(sock_path: str) -> dict[str, str]:
    """`show info` from a haproxy stats socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        s.connect(sock_path)
        s.sendall(b"show info\n")
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    text = b"".join(chunks).decode("utf-8", errors="replace")
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def _spawn(bench: Bench, name: str, argv: list[str], log: str) -> Proc:
    env = {"RUST_LOG": "warn"} if argv[0] == bench.weft_bin else None
    return Proc(name, argv, bench.s.cpu_proxy, bench.path(log), env)


def _fail(t: Target, why: str) -> Target:
    # weft's config errors start with `weft: FILE:LINE: `; the report keeps only the reason.
    why = re.sub(r"weft: \S+\.yaml:\d+: ", "", why)
    t.stop()
    t.proc = None
    if t.name.startswith("weft"):
        t.unsupported = why
        return t
    raise RuntimeError(f"{t.name} did not start ({t.command}): {why}")


def start_pair(bench: Bench, label: str, pki: Pki | None) -> Target:
    """`label` is "weft plaintext", "haproxy mTLS", ...: proxy B first (it must be up for A's
    probe), then A; ready when a request through A gets 200 (and B refuses non-mTLS clients)."""
    kind, variant = label.split(" ", 1)
    t = Target(label, free_port())
    b_port, tag = free_port(), f"s3-{kind}-{variant.lower()}"
    if kind == "weft" and not bench.weft_caps.get("proxy"):
        t.unsupported = bench.weft_caps.get("reason", "no weft proxy")
        return t
    if kind == "weft":
        admin_a, admin_b = free_port(), free_port()
        text_b = configs_tls.weft_inbound(bench.backend, b_port, admin_b, pki)
        cfg_b = bench.write(f"weft-{tag}-b.yaml", text_b)
        cfg_a = bench.write(
            f"weft-{tag}-a.yaml", configs_tls.weft_outbound(bench.backend, t.port, admin_a, b_port, pki)
        )
        argv_b, argv_a = bench._weft_argv(cfg_b), bench._weft_argv(cfg_a)
        t.stats = {"a": admin_a, "b": admin_b}
    else:
        socks = bench.path(f"haproxy-{tag}-a.sock"), bench.path(f"haproxy-{tag}-b.sock")
        text_b = configs_tls.haproxy_inbound(bench.backend, b_port, pki, socks[1])
        cfg_b = bench.write(f"haproxy-{tag}-b.cfg", text_b)
        cfg_a = bench.write(
            f"haproxy-{tag}-a.cfg", configs_tls.haproxy_outbound(bench.backend, t.port, b_port, pki, socks[0])
        )
        argv_b, argv_a = ["haproxy", "-db", "-f", cfg_b], ["haproxy", "-db", "-f", cfg_a]
        t.stats = {"a": socks[0], "b": socks[1]}
    proc_b = _spawn(bench, f"{kind}-b", argv_b, f"{tag}-b.log")
    t.proc = PairProc(_spawn(bench, f"{kind}-a", argv_a, f"{tag}-a.log"), proc_b)
    t.command = f"B: {bench.show(proc_b.argv)}; A: {bench.show(t.proc.parts[0].argv)}"
    if pki is not None:
        ok, why = wait_https(proc_b, b_port, tls_context(pki, True), 15)
    else:
        ok, why, _ = wait_http(proc_b, b_port, configs.HOST, configs.PATH, 15)
    if not ok:
        return _fail(t, f"proxy B: {why}")
    ok, why, ready = wait_http(t.proc.parts[0], t.port, configs.HOST, configs.PATH, 15)
    if not ok:
        return _fail(t, f"proxy A (through B): {why}")
    refused = refuses_without_client_cert(b_port, pki) if pki is not None else None
    if refused:
        return _fail(t, f"proxy B: {refused}")
    t.ready_s = ready
    t.idle_mem = t.proc.memory()
    return t


def pair_tls_evidence(t: Target, mtls: bool) -> tuple[dict, str | None]:
    """Handshake counters of both proxies after the runs, and why they disprove the variant
    (None when they fit: TLS handshakes on both sides for mTLS, none for plaintext)."""
    kind = t.name.split(" ", 1)[0]
    if kind == "weft":
        got = {
            "a_cluster_ssl_handshake": weft_stat(t.stats["a"], "cluster.to_b.ssl.handshake"),
            "b_listener_ssl_handshake": weft_stat(t.stats["b"], "listener.inbound_http.ssl.handshake"),
        }
    else:
        got = {
            "a_cum_ssl_conns": int(haproxy_info(t.stats["a"]).get("CumSslConns", "0")),
            "b_cum_ssl_conns": int(haproxy_info(t.stats["b"]).get("CumSslConns", "0")),
        }
    values = [v or 0 for v in got.values()]
    if mtls and min(values) < 1:
        return got, f"no TLS handshakes counted between the proxies: {json.dumps(got)}"
    if not mtls and max(values) > 0:
        return got, f"TLS handshakes counted in the plaintext pair: {json.dumps(got)}"
    return got, None


def start_terminating(bench: Bench, kind: str, pki: Pki) -> Target:
    """S7: weft or haproxy terminating TLS (no client certificate) in front of the backend."""
    t = Target(kind, free_port())
    if kind == "weft" and not bench.weft_caps.get("proxy"):
        t.unsupported = bench.weft_caps.get("reason", "no weft proxy")
        return t
    if kind == "weft":
        admin = free_port()
        text = configs_tls.weft_tls_terminating(bench.backend, t.port, admin, pki)
        t.config_path = bench.write("weft-s7-tls.yaml", text)
        argv = bench._weft_argv(t.config_path)
        t.stats = {"admin": admin}
    else:
        sock = bench.path("haproxy-s7.sock")
        text = configs_tls.haproxy_tls_terminating(bench.backend, t.port, pki, sock)
        t.config_path = bench.write("haproxy-s7-tls.cfg", text)
        argv = ["haproxy", "-db", "-f", t.config_path]
        t.stats = {"sock": sock}
    proc = _spawn(bench, kind, argv, f"s7-{kind}.log")
    t.proc, t.command = proc, bench.show(proc.argv)
    ok, why = wait_https(proc, t.port, tls_context(pki, False), 15)
    if not ok:
        return _fail(t, why)
    t.idle_mem = proc.memory()
    return t


def terminating_handshakes(t: Target) -> int:
    """Handshakes the proxy itself counted (weft `listener.tls.ssl.handshake`, haproxy CumSslConns)."""
    if t.name == "weft":
        return weft_stat(t.stats["admin"], "listener.tls.ssl.handshake") or 0
    return int(haproxy_info(t.stats["sock"]).get("CumSslConns", "0"))
