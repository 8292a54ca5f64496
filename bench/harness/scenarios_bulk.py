"""S4: bulk TCP throughput (iperf3) straight to the backend, through one TCP hop (weft
`tcp_proxy`, haproxy `mode tcp`) and through an mTLS sidecar pair (A: plaintext in, TLS with a
client certificate out; B: TLS with a client certificate required, plaintext to iperf3).

iperf3 is its own backend: one `iperf3 -s` on the backend CPU, which serves one test at a time
(the interleaved runs are sequential). Every target is probed with a short iperf3 test before
the runs, and every measured run must have moved data: a target that passes nothing is an
error (a weft row says `not supported yet (reason)`, a baseline stops the scenario), never a
silent 0 Gb/s.
"""

import json
import socket
import ssl
import time

from . import configs, configs_tls
from .configs_tls import Pki
from .load import LoadError, _run_timed
from .measure import interleaved
from .procs import Proc, free_port, pinned
from .scenarios import NOT_YET
from .targets import Bench, Target
from .tls_targets import PairProc, _fail, _spawn, haproxy_info, tls_context, weft_stat

GB = 1e9
VARIANTS = [("1 stream", 1), ("4 streams", 4)]
HOPS = ["weft", "haproxy"]
PAIRS = ["weft mTLS pair", "haproxy mTLS pair"]


def iperf3_argv(port: int, seconds: int, streams: int) -> list[str]:
    argv = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J"]
    return argv + (["-P", str(streams)] if streams > 1 else [])


def iperf3(port: int, seconds: int, streams: int, cpu: str | None, limit: float = 30) -> dict:
    """One iperf3 test; raises LoadError when it fails or the receiver got no bytes."""
    code, text, load_cpu = _run_timed(pinned(iperf3_argv(port, seconds, streams), cpu), seconds + limit)
    try:
        doc = json.loads(text[text.find("{") :]) if "{" in text else {}
    except json.JSONDecodeError:
        doc = {}
    received = doc.get("end", {}).get("sum_received", {})
    if code != 0 or doc.get("error") or not received.get("bytes"):
        why = doc.get("error") or text.strip()[-300:] or "no output"
        raise LoadError(f"iperf3 to port {port} passed no data (exit {code}): {why}")
    return {
        "gbps": received["bits_per_second"] / GB,
        "bytes": received["bytes"],
        "retransmits": doc["end"].get("sum_sent", {}).get("retransmits"),
        "requests": 1,  # one iperf3 test; CPU is reported per GB, not per request
        "errors": 0,
        "loadgen_cpu_s": load_cpu,
    }


def _wait_port(proc: Proc, port: int, limit: float) -> str | None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not proc.alive():
            return f"exited with {proc.popen.returncode}: {proc.log_tail()}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return None
        except OSError:
            time.sleep(0.01)
    return f"port {port} not accepting within {limit:.0f}s"


def _tcp_listener(name: str, port: int, cluster: str, tls: dict | None) -> dict:
    chain: dict = {
        "filters": [
            {
                "name": "envoy.filters.network.tcp_proxy",
                "typed_config": {"@type": configs.TCP_PROXY, "stat_prefix": name, "cluster": cluster},
            }
        ]
    }
    if tls is not None:
        chain["transport_socket"] = tls
    # stat_prefix on the listener: weft's `listener.<stat_prefix>.ssl.*` counters.
    return {"name": name, "address": configs._socket(port), "stat_prefix": name, "filter_chains": [chain]}


def weft_hop(port: int, admin: int, upstream: int) -> str:
    listener = _tcp_listener("bulk", port, "iperf", None)
    return configs._bootstrap(admin, [listener], [configs._cluster("iperf", upstream)])


def weft_pair_a(port: int, admin: int, b_port: int, pki: Pki) -> str:
    to_b = configs._cluster("to_b", b_port)
    to_b["transport_socket"] = configs_tls.upstream_tls(pki)
    return configs._bootstrap(admin, [_tcp_listener("outbound_tcp", port, "to_b", None)], [to_b])


def weft_pair_b(port: int, admin: int, upstream: int, pki: Pki) -> str:
    listener = _tcp_listener("inbound_tcp", port, "app", configs_tls.downstream_tls(pki, True))
    return configs._bootstrap(admin, [listener], [configs._cluster("app", upstream)])


def haproxy_tcp(port: int, server: str, stats_sock: str | None = None, bind_tls: str = "") -> str:
    head = configs._haproxy_global(100)
    if stats_sock:
        head = head.replace("global\n", f"global\n    stats socket {stats_sock} mode 600 level user\n", 1)
    return (
        head
        + f"""    mode tcp

frontend fe
    bind 127.0.0.1:{port}{bind_tls}
    default_backend be

backend be
    server s1 {server}
"""
    )


def haproxy_pair_a(port: int, b_port: int, pki: Pki, sock: str) -> str:
    tls = f" ssl crt {pki.client_pem} ca-file {pki.ca} verify required"
    return haproxy_tcp(port, f"127.0.0.1:{b_port}{tls}", sock)


def haproxy_pair_b(port: int, upstream: int, pki: Pki, sock: str) -> str:
    tls = f" ssl crt {pki.server_pem} ca-file {pki.ca} verify required"
    return haproxy_tcp(port, f"127.0.0.1:{upstream}", sock, tls)


def _probe(bench: Bench, t: Target, port: int | None = None) -> str | None:
    """None when a one-second iperf3 test through the target moved data, else why not."""
    try:
        iperf3(port or t.port, 1, 1, bench.s.cpu_load, limit=10)
    except LoadError as e:
        return str(e)
    return None


def forwards_without_client_cert(port: int, pki: Pki) -> bool:
    """True when B hands a TLS client with no certificate on to iperf3: iperf3 answers a
    37-byte cookie with a state byte, so any byte back means B forwarded it. (In TLS 1.3 the
    server checks the client certificate after the client's handshake ends, so the refusal
    shows up on the first read.)"""
    ctx = tls_context(pki, False)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
            with ctx.wrap_socket(raw) as tls:
                tls.sendall(b"s4-no-client-cert-probe-0123456789ab\0")
                return bool(tls.recv(1))
    except (OSError, ssl.SSLError):
        return False


def _ready(bench: Bench, t: Target, proc: Proc, port: int) -> Target:
    why = _wait_port(proc, port, 15) or _probe(bench, t)
    if why:
        return _fail(t, why)
    t.idle_mem = t.proc.memory()
    return t


def start_hop(bench: Bench, kind: str, upstream: int) -> Target:
    t = Target(kind, free_port())
    if kind == "weft" and not bench.weft_caps.get("proxy"):
        t.unsupported = bench.weft_caps.get("reason", "no weft proxy")
        return t
    if kind == "weft":
        t.config_path = bench.write("weft-s4-tcp.yaml", weft_hop(t.port, free_port(), upstream))
        argv = bench._weft_argv(t.config_path)
    else:
        t.config_path = bench.write("haproxy-s4-tcp.cfg", haproxy_tcp(t.port, f"127.0.0.1:{upstream}"))
        argv = ["haproxy", "-db", "-f", t.config_path]
    t.proc = _spawn(bench, kind, argv, f"s4-{kind}.log")
    t.command = bench.show(t.proc.argv)
    return _ready(bench, t, t.proc, t.port)


def start_pair(bench: Bench, label: str, upstream: int, pki: Pki) -> Target:
    """Proxy B (mTLS in, plaintext to iperf3) first, then A; B must refuse a plaintext client."""
    kind = label.split(" ", 1)[0]
    t, b_port = Target(label, free_port()), free_port()
    if kind == "weft" and not bench.weft_caps.get("proxy"):
        t.unsupported = bench.weft_caps.get("reason", "no weft proxy")
        return t
    if kind == "weft":
        admin_a, admin_b = free_port(), free_port()
        cfg_b = bench.write("weft-s4-b.yaml", weft_pair_b(b_port, admin_b, upstream, pki))
        cfg_a = bench.write("weft-s4-a.yaml", weft_pair_a(t.port, admin_a, b_port, pki))
        argv_b, argv_a = bench._weft_argv(cfg_b), bench._weft_argv(cfg_a)
        t.stats = {"a": admin_a, "b": admin_b}
    else:
        socks = bench.path("haproxy-s4-a.sock"), bench.path("haproxy-s4-b.sock")
        cfg_b = bench.write("haproxy-s4-b.cfg", haproxy_pair_b(b_port, upstream, pki, socks[1]))
        cfg_a = bench.write("haproxy-s4-a.cfg", haproxy_pair_a(t.port, b_port, pki, socks[0]))
        argv_b, argv_a = ["haproxy", "-db", "-f", cfg_b], ["haproxy", "-db", "-f", cfg_a]
        t.stats = {"a": socks[0], "b": socks[1]}
    proc_b = _spawn(bench, f"{kind}-b", argv_b, f"s4-{kind}-b.log")
    t.proc = PairProc(_spawn(bench, f"{kind}-a", argv_a, f"s4-{kind}-a.log"), proc_b)
    t.command = f"B: {bench.show(proc_b.argv)}; A: {bench.show(t.proc.parts[0].argv)}"
    why = _wait_port(proc_b, b_port, 15)
    if why:
        return _fail(t, f"proxy B: {why}")
    if _probe(bench, t, b_port) is None:
        return _fail(t, "proxy B passed a plaintext iperf3 test (no mTLS on its listener)")
    if forwards_without_client_cert(b_port, pki):
        return _fail(t, "proxy B forwarded a TLS client without a certificate to iperf3")
    return _ready(bench, t, t.proc.parts[0], t.port)


def pair_handshakes(t: Target) -> dict:
    """Both proxies' own TLS counters: proof that the pair really spoke TLS."""
    if t.name.startswith("weft"):
        return {
            "a_cluster_ssl_handshake": weft_stat(t.stats["a"], "cluster.to_b.ssl.handshake"),
            "b_listener_ssl_handshake": weft_stat(t.stats["b"], "listener.inbound_tcp.ssl.handshake"),
        }
    return {
        "a_cum_ssl_conns": int(haproxy_info(t.stats["a"]).get("CumSslConns", "0")),
        "b_cum_ssl_conns": int(haproxy_info(t.stats["b"]).get("CumSslConns", "0")),
    }


def _check_pairs(targets: list[Target]) -> dict:
    evidence = {}
    for t in targets:
        if t.unsupported or not t.name.endswith("pair"):
            continue
        got = evidence[t.name] = pair_handshakes(t)
        if min(v or 0 for v in got.values()) >= 1:
            continue
        why = f"no TLS handshakes counted between the proxies: {json.dumps(got)}"
        if not t.name.startswith("weft"):
            raise RuntimeError(f"S4 {t.name}: {why}")
        t.unsupported = why
    return evidence


def _bulk_fn(bench: Bench, streams: int):
    def fn(t: Target, seconds: int) -> dict:
        return iperf3(t.port, seconds, streams, bench.s.cpu_load)

    return fn


def _median(values: list) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _figures(rows: list[dict], variant: str, targets: list[Target], evidence: dict) -> list[dict]:
    """Gb/s, × direct, proxy CPU s per GB (per run, then the median) and the TLS evidence."""
    for t, r in zip(targets, rows):
        if t.unsupported and not r.get("unsupported"):
            r.clear()
            r.update(target=t.name, unsupported=t.unsupported)
        r["variant"] = variant
        for key in ("rps", "p50_us", "p90_us", "p99_us", "cpu_us_per_req"):
            r.pop(key, None)  # request figures: meaningless for one iperf3 test per run
        runs = r.get("runs") or []
        r["gbps"] = _median([x["gbps"] for x in runs])
        r["retransmits"] = _median([x["retransmits"] for x in runs])
        r["bytes"] = sum(x["bytes"] for x in runs)
        if t.proc is not None and runs:
            r["cpu_s_per_gb"] = _median([x["proxy_cpu_s"] / (x["bytes"] / GB) for x in runs])
        if t.name in evidence:
            r["tls_evidence"] = evidence[t.name]
    base = rows[0].get("gbps")
    for r in rows:
        if base and r.get("gbps") is not None:
            r["x_direct"] = r["gbps"] / base
    return rows


def _summary(rows: list[dict]) -> str:
    parts = []
    for variant, _ in VARIANTS:
        cells = []
        for r in (x for x in rows if x["variant"] == variant):
            gbps = "n/a" if r.get("gbps") is None else f"{r['gbps']:.1f}"
            cpu = "" if r.get("cpu_s_per_gb") is None else f"({r['cpu_s_per_gb']:.2f}s/GB)"
            cells.append(f"{r['target'].replace(' ', '-')}={gbps}{cpu}")
        parts.append(f"{variant}: " + " ".join(cells))
    return "S4 Gb/s (proxy CPU s/GB) " + "; ".join(parts)


def _commands(bench: Bench, server: Proc, targets: list[Target]) -> list[str]:
    out = [f"backend: {bench.show(server.argv)}"]
    out.append("pki: as S3 (openssl, ECDSA P-256 CA and client/server leaves in $WORK/pki)")
    out += [f"{t.name}: {t.command}" for t in targets if t.command and t.name != "direct"]
    for _, streams in VARIANTS:
        argv = pinned(iperf3_argv(0, bench.s.seconds, streams), bench.s.cpu_load)
        out.append(bench.show(argv).replace("-p 0", "-p <target port>"))
    return out


def _start_iperf3(bench: Bench) -> tuple[Proc, int]:
    port = free_port()
    server = Proc("iperf3", ["iperf3", "-s", "-p", str(port)], bench.s.cpu_backend, bench.path("iperf3.log"))
    why = _wait_port(server, port, 10)
    if why:
        server.stop()
        raise RuntimeError(f"iperf3 server did not start: {why}")
    return server, port


def s4(bench: Bench) -> dict:
    pki = configs_tls.make_pki(bench.path("pki"))
    server, upstream = _start_iperf3(bench)
    nginx, bench.backend_proc = bench.backend_proc, server  # the backend CPU is iperf3's here
    targets: list[Target] = []
    try:
        targets.append(Target("direct", upstream, command=bench.show(server.argv)))
        why = _probe(bench, targets[0])
        if why:
            raise RuntimeError(f"S4 direct: {why}")
        targets += [start_hop(bench, kind, upstream) for kind in HOPS]
        targets += [start_pair(bench, label, upstream, pki) for label in PAIRS]
        raw = [(v, interleaved(bench, targets, _bulk_fn(bench, n))) for v, n in VARIANTS]
        evidence = _check_pairs(targets)
        rows = [r for v, got in raw for r in _figures(got, v, targets, evidence)]
        commands = _commands(bench, server, targets)
    finally:
        bench.backend_proc = nginx
        for t in targets:
            t.stop()
        server.stop()
    weft_ok = all(not r.get("unsupported") for r in rows if r["target"].startswith("weft"))
    verdict = "reported (Gb/s and CPU per GB; no ratio set)" if weft_ok else NOT_YET
    return {"rows": rows, "summary": _summary(rows), "verdict": verdict, "commands": commands}


def dump(directory: str) -> dict[str, str]:
    """S4's configs with example ports (iperf3 on 18400), for `bench/run --dump-configs`; the
    PKI is the one configs_tls.dump makes in `directory/pki`."""
    pki = configs_tls.pki_paths(f"{directory}/pki")
    sock = f"{directory}/haproxy.sock"
    return {
        "weft-s4-tcp.yaml": weft_hop(18401, 18491, 18400),
        "haproxy-s4-tcp.cfg": haproxy_tcp(18402, "127.0.0.1:18400"),
        "weft-s4-a.yaml": weft_pair_a(18410, 18492, 18411, pki),
        "weft-s4-b.yaml": weft_pair_b(18411, 18493, 18400, pki),
        "haproxy-s4-a.cfg": haproxy_pair_a(18420, 18421, pki, sock),
        "haproxy-s4-b.cfg": haproxy_pair_b(18421, 18400, pki, sock),
    }
