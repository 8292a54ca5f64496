"""Config files for every process in a run: the nginx backend, the weft bootstraps (Envoy v3
YAML), and the nginx and haproxy proxies doing the same job.

All proxies route the same way (see ROUTES): three virtual hosts, the request under test matches
host `bench.svc` and prefix `/api/`, after a `/health` route that it must skip. Wrong routes
land on the backend's "other" port, which answers 418, so a misroute counts as an error.
"""

from dataclasses import dataclass

from . import yamlout

BODY = "weft bench backend: fixed 200 body, 64 bytes of payload ........\n"
HOST = "bench.svc"
PATH = "/api/v1/items"
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"

# (virtual host, domains, [(prefix, cluster)]) in the order every proxy evaluates them.
ROUTES = [
    ("a", ["a.svc"], [("/", "other")]),
    ("b", ["b.svc"], [("/", "other")]),
    ("bench", [HOST], [("/health", "other"), ("/api/", "api"), ("/", "other")]),
]


@dataclass
class Backend:
    """Ports of the nginx upstream: h1 and h2c answer 200, `other` answers 418."""

    h1: int
    h2c: int
    other: int


# Connection limits are sized to the run (S8 holds `conns` idle connections, each of which a
# proxy pairs with an upstream one): both nginx and haproxy preallocate per-connection tables,
# so an oversized limit would inflate their idle RSS.
def _nginx_preamble(work: str, name: str, conns: int) -> str:
    return f"""worker_processes 1;
worker_rlimit_nofile {2 * conns + 1100};
pid {work}/{name}.pid;
error_log {work}/{name}.error.log warn;
events {{ worker_connections {2 * conns + 1000}; multi_accept on; }}
"""


def _nginx_http_common(work: str, name: str) -> str:
    temps = "\n".join(
        f"  {kind}_temp_path {work}/{name}-{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  default_type text/plain;
{temps}
"""


def nginx_backend(work: str, b: Backend, conns: int) -> str:
    return (
        _nginx_preamble(work, "backend", conns)
        + "http {\n"
        + _nginx_http_common(work, "backend")
        + f"""  server {{
    listen 127.0.0.1:{b.h1} backlog=8192;
    listen 127.0.0.1:{b.h2c} http2 backlog=8192;
    location / {{ return 200 "{BODY.strip()}\\n"; }}
  }}
  server {{
    listen 127.0.0.1:{b.other} backlog=8192;
    location / {{ return 418 "wrong route\\n"; }}
  }}
}}
"""
    )


def _nginx_locations(routes: list[tuple[str, str]]) -> str:
    out = []
    for prefix, cluster in routes:
        out.append(
            f"    location {prefix} {{ proxy_pass http://{cluster}; proxy_http_version 1.1; "
            'proxy_set_header Connection ""; }'
        )
    return "\n".join(out)


def nginx_proxy(work: str, b: Backend, port: int, h2c_port: int, conns: int) -> str:
    """nginx `proxy_pass` with upstream keepalive; h1 on `port`, h2c on `h2c_port`."""
    servers = []
    # The first server is the default for unknown hosts; like the others it routes to 418.
    # nginx takes listen options (backlog) once per address: on the first server only.
    for i, (_, domains, routes) in enumerate(ROUTES):
        opts = " backlog=8192" if i == 0 else ""
        servers.append(
            f"""  server {{
    listen 127.0.0.1:{port}{opts};
    listen 127.0.0.1:{h2c_port} http2{opts};
    server_name {" ".join(domains)};
{_nginx_locations(routes)}
  }}"""
        )
    return (
        _nginx_preamble(work, "nginx-proxy", conns)
        + "http {\n"
        + _nginx_http_common(work, "nginx-proxy")
        + f"""  upstream api {{ server 127.0.0.1:{b.h1}; keepalive 256; keepalive_requests 100000000; }}
  upstream other {{ server 127.0.0.1:{b.other}; keepalive 16; }}
"""
        + "\n".join(servers)
        + "\n}\n"
    )


def _haproxy_global(conns: int) -> str:
    return f"""global
    nbthread 1
    maxconn {conns + 1000}

defaults
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
"""


def haproxy_http(b: Backend, port: int, h2c_port: int, conns: int) -> str:
    acls, rules = [], []
    for vh, domains, routes in ROUTES:
        acls.append(f"    acl host_{vh} hdr(host),field(1,:) -i {' '.join(domains)}")
        for i, (prefix, cluster) in enumerate(routes):
            if prefix == "/":
                rules.append(f"    use_backend {cluster} if host_{vh}")
            else:
                acls.append(f"    acl path_{vh}_{i} path_beg {prefix}")
                rules.append(f"    use_backend {cluster} if host_{vh} path_{vh}_{i}")
    return (
        _haproxy_global(conns)
        + f"""    mode http

frontend fe
    bind 127.0.0.1:{port}
    bind 127.0.0.1:{h2c_port} proto h2
"""
        + "\n".join(acls + rules)
        + f"""

backend api
    server s1 127.0.0.1:{b.h1}

backend other
    server s1 127.0.0.1:{b.other}
"""
    )


def haproxy_tcp(b: Backend, port: int, conns: int) -> str:
    return (
        _haproxy_global(conns)
        + f"""    mode tcp

frontend fe
    bind 127.0.0.1:{port}
    default_backend api

backend api
    server s1 127.0.0.1:{b.h1}
"""
    )


def haproxy_scale(b: Backend, port: int, n: int, map_path: str, conns: int) -> str:
    """n backends picked by Host through a map (haproxy's idiom for many services)."""
    backends = "\n".join(f"backend svc-{i}\n    server s1 127.0.0.1:{b.h1}\n" for i in range(n))
    return (
        _haproxy_global(conns)
        + f"""    mode http

frontend fe
    bind 127.0.0.1:{port}
    use_backend %[req.hdr(host),field(1,:),lower,map({map_path})]

"""
        + backends
    )


def haproxy_scale_map(n: int) -> str:
    return "".join(f"svc-{i}.bench svc-{i}\n" for i in range(n))


def _socket(port: int) -> dict:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def _cluster(name: str, port: int) -> dict:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket(port)}}]}],
        },
    }


def _bootstrap(admin_port: int, listeners: list[dict], clusters: list[dict]) -> str:
    return yamlout.dump(
        {
            "node": {"id": "bench~127.0.0.1~bench.default~default.svc.cluster.local", "cluster": "bench"},
            "admin": {"address": _socket(admin_port)},
            "static_resources": {"listeners": listeners, "clusters": clusters},
        }
    )


def _hcm_listener(name: str, port: int, virtual_hosts: list[dict]) -> dict:
    return {
        "name": name,
        "address": _socket(port),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": HCM,
                            "stat_prefix": name,
                            "codec_type": "AUTO",
                            "route_config": {"name": name, "virtual_hosts": virtual_hosts},
                            "http_filters": [
                                {"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}}
                            ],
                        },
                    }
                ]
            }
        ],
    }


def _vhost(name: str, domains: list[str], routes: list[tuple[str, str]]) -> dict:
    return {
        "name": name,
        "domains": domains,
        "routes": [{"match": {"prefix": p}, "route": {"cluster": c}} for p, c in routes],
    }


def weft_http(b: Backend, port: int, admin_port: int) -> str:
    """One HCM listener (HTTP/1.1 and h2c by codec AUTO) with the shared routing table."""
    vhosts = [_vhost(vh, domains, routes) for vh, domains, routes in ROUTES]
    return _bootstrap(
        admin_port,
        [_hcm_listener("http", port, vhosts)],
        [_cluster("api", b.h1), _cluster("other", b.other)],
    )


def weft_tcp(b: Backend, port: int, admin_port: int) -> str:
    listener = {
        "name": "tcp",
        "address": _socket(port),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.tcp_proxy",
                        "typed_config": {"@type": TCP_PROXY, "stat_prefix": "tcp", "cluster": "api"},
                    }
                ]
            }
        ],
    }
    return _bootstrap(admin_port, [listener], [_cluster("api", b.h1)])


def weft_scale(b: Backend, port: int, admin_port: int, n: int) -> str:
    """n clusters and n virtual hosts `svc-I.bench` (one route each), Istio's shape per service."""
    vhosts = [_vhost(f"svc-{i}", [f"svc-{i}.bench"], [("/", f"svc-{i}")]) for i in range(n)]
    clusters = [_cluster(f"svc-{i}", b.h1) for i in range(n)]
    return _bootstrap(admin_port, [_hcm_listener("http", port, vhosts)], clusters)
