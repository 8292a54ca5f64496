"""Every scenario the issues ask for, built or not, with its target and what it needs."""

from dataclasses import dataclass
from collections.abc import Callable


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    target: str
    about: str = ""
    table: str = "hop"
    tools: frozenset = frozenset()
    run: Callable | None = None
    later: str = ""


def _build() -> list[Scenario]:
    from . import scenarios as s
    from . import scenarios_bulk as b
    from . import scenarios_ctl as c
    from . import scenarios_mem as m
    from . import scenarios_tls as t

    http = frozenset({"wrk", "nginx", "taskset"})
    return [
        Scenario(
            "S0",
            "Direct baseline",
            "none: the denominators for every ratio.",
            "wrk (HTTP/1.1 keep-alive) and h2load (h2c, one stream per connection) straight at the "
            "nginx backend at 1, 16 and 64 connections.",
            "baseline",
            http | {"h2load"},
            s.s0,
        ),
        Scenario(
            "S1",
            "L4 TCP single hop",
            "weft `tcp_proxy` ahead of haproxy `mode tcp` (no ratio set in the issues yet).",
            "wrk -c64 over one TCP proxy hop (weft `envoy.filters.network.tcp_proxy`, haproxy `mode tcp`) "
            "to the backend, against wrk straight at the backend.",
            "hop",
            http | {"haproxy"},
            s.s1,
        ),
        Scenario(
            "S2",
            "L7 HTTP/1.1 single hop with host/path routing",
            "weft ≥ 0.80× direct requests/s and ahead of haproxy (proxy issue).",
            "wrk -c64 keep-alive, `Host: bench.svc`, `GET /api/v1/items` through weft's HTTP connection "
            "manager, haproxy `mode http` and nginx `proxy_pass` (upstream keepalive), all routing by "
            "host and path prefix over the same three virtual hosts.",
            "hop",
            http | {"haproxy"},
            s.s2,
        ),
        Scenario(
            "S3",
            "Sidecar pair at fixed rate, plaintext and mTLS",
            "added p50/p90/p99 over direct and vCPU per 1,000 rps reported, mTLS against plaintext and "
            "against a haproxy TLS pair in the same run (security issue; no ratio set yet).",
            "client → proxy A (plaintext HTTP listener) → proxy B (inbound) → nginx backend, at a fixed "
            f"{t.S3_RATE:,} req/s (h2load --h1 -c{t.S3_CONNS} --rps={t.S3_RATE // t.S3_CONNS} per connection, "
            "keep-alive; percentiles from h2load's per-request log). Between A and B either plaintext or mTLS: "
            "ECDSA P-256 leaves from a per-run CA with URI SANs `spiffe://cluster.local/ns/bench/sa/client` and "
            "`.../sa/server`; weft A's cluster has an `UpstreamTlsContext` (client leaf, CA, B's SAN), B's filter "
            "chain a `DownstreamTlsContext` with `require_client_certificate`; haproxy A's server line has `ssl "
            "crt ... ca-file ... verify required`, B's bind `ssl crt ... ca-file ... verify required`. Both proxies "
            "share the proxy CPU; their CPU is summed. Before the runs B must refuse plaintext and certificate-less "
            "TLS; after them the proxies' own counters (weft `ssl.handshake`, haproxy `CumSslConns`) must show "
            "TLS on exactly the mTLS pairs. For context (not measured here): Istio 1.20 documents "
            f"+{t.ISTIO_MTLS_P90_MS} ms p90 for a sidecar pair with mTLS.",
            "pair",
            http | {"h2load", "haproxy", "openssl"},
            t.s3,
        ),
        Scenario(
            "S4",
            "Bulk throughput through a TCP and an mTLS hop",
            "reported: Gb/s and proxy CPU seconds per GB (the issue sets no ratio).",
            "iperf3 (`-c 127.0.0.1 -t S -J`, one stream and `-P 4`) against one `iperf3 -s` on the backend "
            "CPU: direct; one TCP hop (weft `tcp_proxy`, haproxy `mode tcp`); and an mTLS sidecar pair "
            "(A: plaintext in, weft cluster with S3's `UpstreamTlsContext` / haproxy `server ... ssl crt ... "
            "verify required`; B: weft `DownstreamTlsContext` with `require_client_certificate` in front of "
            "`tcp_proxy` / haproxy `bind ... ssl ... verify required`; S3's per-run PKI). Gb/s is "
            "`end.sum_received.bits_per_second`; proxy CPU s/GB is utime+stime of the proxy processes (both "
            "of a pair) over the bytes received, per run, then the median. Every target must pass a 1 s "
            "iperf3 test first and every run must move data (else an error, never 0 Gb/s); B must refuse a "
            "plaintext iperf3 client, and after the runs both proxies of a pair must have counted TLS "
            "handshakes (weft `ssl.handshake`, haproxy `CumSslConns`).",
            "bulk",
            frozenset({"iperf3", "haproxy", "openssl", "taskset"}),
            b.s4,
        ),
        Scenario(
            "S5",
            "Single-connection ping-pong",
            "weft's added p50 per hop below haproxy's (proxy issue).",
            "wrk -t1 -c1: one request in flight; the added latency of a hop is the target's p50 (p99) minus "
            "direct's p50 (p99) from the same run.",
            "latency",
            http | {"haproxy"},
            s.s5,
        ),
        Scenario(
            "S6",
            "h2c multiplexing",
            "reported as ratios to direct (no target set in the issues yet).",
            "h2load -c4 -m10 and -m100, prior-knowledge h2c downstream; the proxies talk HTTP/1.1 to the "
            "backend, direct is h2c straight at the backend. gRPC comes with the gRPC work.",
            "hop",
            http | {"h2load", "haproxy"},
            s.s6,
        ),
        Scenario(
            "S7",
            "TLS handshakes per second per core, full and resumed",
            "reported: handshakes per proxy-CPU-second and proxy CPU per handshake (security issue; no target set).",
            "One listener terminating TLS (server leaf ECDSA P-256, no client certificate; TLS 1.3 as "
            "negotiated by default) in front of the backend: weft `DownstreamTlsContext`, haproxy `bind ... ssl "
            "crt`. Load is `openssl s_time` (one connection at a time, bounded by `-time`): `-new` handshakes "
            "only; `-new` and `-reuse` with one request per connection (TLS 1.3 session tickets arrive after the "
            "handshake, so resumption needs the client to read; the request is a `GET` with Host, "
            "`Connection: close`). Each proxy runs one worker on its own CPU, so handshakes per proxy-CPU-second "
            "is the per-core capacity; handshakes/s is bounded by the single-threaded client. Checked: the proxy "
            "counted every handshake (weft `listener.tls.ssl.handshake`, haproxy `CumSslConns`), ≥ 90% of "
            "`-reuse` connections resumed, and responses came back.",
            "handshake",
            http | {"haproxy", "openssl"},
            t.s7,
        ),
        Scenario(
            "S8",
            "Idle RSS and RSS per 1,000 idle connections",
            "weft idle RSS under 10 MB; RSS growth per 1,000 idle connections reported (proxy issue).",
            "Each proxy freshly started (idle RSS is after one probe request). Then N connections are opened "
            "and left idle: HTTP ones after one keep-alive request each, TCP ones with no data. The growth "
            "in VmRSS divided by N gives the cost per 1,000. mTLS comes with the security issue.",
            "idle",
            http | {"haproxy"},
            m.s8,
        ),
        Scenario(
            "S9",
            "Config scale: 10 / 1,000 / 10,000 clusters and routes",
            "memory per cluster far below Envoy's ~40 KB (taken here as under 10 KB); apply time and "
            "throughput at the largest size reported (proxy issue).",
            "Generated bootstraps with N STATIC clusters and N virtual hosts `svc-I.bench` (one route each). "
            "`ready ms` is from exec until the last virtual host answers 200; then wrk -c64 on that last host. "
            "Bytes per cluster = RSS growth over the smallest size / added clusters. haproxy does the same with "
            "N backends chosen through a Host map.",
            "scale",
            http | {"haproxy"},
            m.s9,
        ),
        Scenario(
            "S10",
            "Control-plane convergence with simulated ADS clients",
            "p99 convergence under 1 s for a route change and peak RSS under 500 MB at 1,000 services, "
            "5,000 endpoints and 2,000 clients (control-plane issue; istiod is documented at 1.5 GB there).",
            "`weft control` on a directory of 1,000 ServiceEntries (one HTTP port, STATIC, 5 endpoints each) "
            "and one VirtualService, polled every 100 ms; `weft-adsload` (crates/adsload) runs 2,000 simulated "
            "sidecars, one connection and SotW ADS stream each (CDS/LDS wildcard, then EDS/RDS for the names "
            "received, every response ACKed). After all have synced, the harness asks adsload for a mark, then "
            "changes the VirtualService's destination (route change) and later one ServiceEntry's endpoint "
            "(endpoint change). Per client: mark → ACK of the first RDS (EDS) response with a new version; "
            "p50/p99/max over clients. Control-plane CPU seconds (utime+stime) and peak RSS (VmHWM) from /proc, "
            "bytes per proxy as received by the clients (encoded DiscoveryResponses). `--quick`: 100 services, "
            "200 clients.",
            "convergence",
            frozenset({"taskset", "nginx"}),
            c.s10,
        ),
        Scenario(
            "S11",
            "Churn: endpoint changes every 100 ms under S3 load",
            "non-2xx count must be 0.",
            later="needs EDS over ADS and S3",
        ),
    ]


CATALOG = _build()
BY_ID = {sc.id: sc for sc in CATALOG}
