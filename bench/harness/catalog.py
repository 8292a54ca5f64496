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
    from . import scenarios_mem as m

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
            "added p50/p90/p99 over direct, vCPU per 1,000 rps.",
            later="needs the sidecar mode and mTLS (security issue)",
        ),
        Scenario(
            "S4",
            "Bulk throughput through a TCP and an mTLS hop",
            "Gb/s and CPU per GB (iperf3).",
            later="with mTLS (security issue)",
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
            "reported.",
            later="needs TLS (security issue)",
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
            "from the control-plane issue.",
            later="needs `weft control`",
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
