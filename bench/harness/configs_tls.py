"""Configs for the TLS scenarios (S3 sidecar pair, S7 handshakes) and the test PKI they use.

The PKI is made fresh per run with `openssl` in the work dir: one ECDSA P-256 CA and two
leaves carrying Istio-style identities as URI SANs. The weft bootstraps are Envoy v3 YAML
(`envoy.transport_sockets.tls` with file certificates); the haproxy configs do the same job
with `ssl crt ... ca-file ...`. This module only writes text and runs openssl: it starts no
proxy (targets and scenarios do that).
"""

import os
import subprocess
from dataclasses import dataclass

from . import configs

TLS_SOCKET = "envoy.transport_sockets.tls"
DOWNSTREAM = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
UPSTREAM = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
TRUST_DOMAIN = "cluster.local"
CLIENT_ID = f"spiffe://{TRUST_DOMAIN}/ns/bench/sa/client"
SERVER_ID = f"spiffe://{TRUST_DOMAIN}/ns/bench/sa/server"
# Istio's SNI for an outbound cluster; weft checks the SAN, not this name.
SERVER_SNI = "outbound_.80_._.server.bench.svc.cluster.local"


@dataclass(frozen=True)
class Pki:
    """Paths of the run's CA and leaves; `*_pem` is cert + key in one file (haproxy's `crt`)."""

    ca: str
    client_crt: str
    client_key: str
    client_pem: str
    server_crt: str
    server_key: str
    server_pem: str


def pki_paths(directory: str) -> Pki:
    p = lambda name: os.path.join(directory, name)  # noqa: E731
    return Pki(
        p("ca.crt"),
        p("client.crt"),
        p("client.key"),
        p("client.pem"),
        p("server.crt"),
        p("server.key"),
        p("server.pem"),
    )


def _openssl(args: list[str], cwd: str) -> None:
    res = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        why = (res.stderr or res.stdout).strip()[-300:]
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {why}")


def _leaf(directory: str, ca: Pki, name: str, identity: str) -> None:
    ext = os.path.join(directory, f"{name}.ext")
    with open(ext, "w", encoding="ascii") as f:
        f.write(
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth,clientAuth\n"
            f"subjectAltName=URI:{identity}\n"
        )
    ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    _openssl(["genpkey", *ec, "-out", f"{name}.key"], directory)
    subject = f"/O=weft bench/CN={name}"
    _openssl(["req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr"], directory)
    serial = "0x10" if name == "client" else "0x11"
    _openssl(
        ["x509", "-req", "-in", f"{name}.csr", "-CA", ca.ca, "-CAkey", "ca.key", "-set_serial", serial,
         "-days", "2", "-sha256", "-extfile", ext, "-out", f"{name}.crt"],
        directory,
    )
    with open(os.path.join(directory, f"{name}.pem"), "w", encoding="ascii") as out:
        for part in (f"{name}.crt", f"{name}.key"):
            with open(os.path.join(directory, part), encoding="ascii") as f:
                out.write(f.read())


def make_pki(directory: str) -> Pki:
    """A test CA and the client and server leaves (ECDSA P-256, 2 days), written to `directory`."""
    os.makedirs(directory, exist_ok=True)
    pki = pki_paths(directory)
    ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    _openssl(["genpkey", *ec, "-out", "ca.key"], directory)
    _openssl(
        ["req", "-x509", "-new", "-key", "ca.key", "-subj", "/O=weft bench/CN=weft bench CA", "-days", "2",
         "-sha256", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.crt"],
        directory,
    )
    _leaf(directory, pki, "client", CLIENT_ID)
    _leaf(directory, pki, "server", SERVER_ID)
    return pki


def _common_tls(crt: str, key: str, ca: str | None, peer_id: str | None) -> dict:
    pair = {"certificate_chain": {"filename": crt}, "private_key": {"filename": key}}
    ctx: dict = {"tls_certificates": [pair]}
    if ca is not None:
        validation: dict = {"trusted_ca": {"filename": ca}}
        if peer_id is not None:
            validation["match_typed_subject_alt_names"] = [{"san_type": "URI", "matcher": {"exact": peer_id}}]
        ctx["validation_context"] = validation
    return ctx


def downstream_tls(pki: Pki, require_client: bool) -> dict:
    """B's (or S7's) listener side: the server leaf; with a client cert required, the CA and SAN."""
    ca, peer = (pki.ca, CLIENT_ID) if require_client else (None, None)
    typed = {"@type": DOWNSTREAM, "common_tls_context": _common_tls(pki.server_crt, pki.server_key, ca, peer)}
    if require_client:
        typed["require_client_certificate"] = True
    return {"name": TLS_SOCKET, "typed_config": typed}


def upstream_tls(pki: Pki) -> dict:
    """A's cluster to B: the client leaf, the CA, and the SAN B must present."""
    typed = {
        "@type": UPSTREAM,
        "common_tls_context": _common_tls(pki.client_crt, pki.client_key, pki.ca, SERVER_ID),
        "sni": SERVER_SNI,
    }
    return {"name": TLS_SOCKET, "typed_config": typed}


def _listener(name: str, port: int, vhosts: list[dict], tls: dict | None) -> dict:
    listener = configs._hcm_listener(name, port, vhosts)
    listener["stat_prefix"] = name  # weft's `listener.<stat_prefix>.ssl.*`
    if tls is not None:
        listener["filter_chains"][0]["transport_socket"] = tls
    return listener


def _bootstrap(admin_port: int, listeners: list[dict], clusters: list[dict]) -> str:
    return configs._bootstrap(admin_port, listeners, clusters)


def weft_outbound(b: configs.Backend, port: int, admin: int, b_port: int, pki: Pki | None) -> str:
    """Proxy A: plaintext HTTP in with the shared routing table; `api` goes to proxy B, over
    mTLS when `pki` is given."""
    vhosts = [
        configs._vhost(vh, domains, [(p, "to_b" if c == "api" else c) for p, c in routes])
        for vh, domains, routes in configs.ROUTES
    ]
    to_b = configs._cluster("to_b", b_port)
    if pki is not None:
        to_b["transport_socket"] = upstream_tls(pki)
    clusters = [to_b, configs._cluster("other", b.other)]
    return _bootstrap(admin, [_listener("outbound_http", port, vhosts, None)], clusters)


def weft_inbound(b: configs.Backend, port: int, admin: int, pki: Pki | None) -> str:
    """Proxy B: everything to the local app (the backend); mTLS with a client cert required
    when `pki` is given."""
    vhosts = [configs._vhost("inbound", ["*"], [("/", "app")])]
    tls = downstream_tls(pki, True) if pki is not None else None
    return _bootstrap(admin, [_listener("inbound_http", port, vhosts, tls)], [configs._cluster("app", b.h1)])


def weft_tls_terminating(b: configs.Backend, port: int, admin: int, pki: Pki) -> str:
    """S7: one listener terminating TLS (no client cert) with the shared routing table."""
    vhosts = [configs._vhost(vh, d, r) for vh, d, r in configs.ROUTES]
    listener = _listener("tls", port, vhosts, downstream_tls(pki, False))
    return _bootstrap(admin, [listener], [configs._cluster("api", b.h1), configs._cluster("other", b.other)])


def _haproxy_head(stats_sock: str) -> str:
    # The stats socket lets the harness read CumSslConns: proof that TLS was really on.
    return (
        configs._haproxy_global(1000).replace(
            "global\n", f"global\n    stats socket {stats_sock} mode 600 level user\n", 1
        )
        + "    mode http\n"
    )


def haproxy_outbound(b: configs.Backend, port: int, b_port: int, pki: Pki | None, stats_sock: str) -> str:
    tls = f" ssl crt {pki.client_pem} ca-file {pki.ca} verify required" if pki is not None else ""
    return (
        _haproxy_head(stats_sock)
        + f"""
frontend fe
    bind 127.0.0.1:{port}
    default_backend to_b

backend to_b
    server b 127.0.0.1:{b_port}{tls}
"""
    )


def haproxy_inbound(b: configs.Backend, port: int, pki: Pki | None, stats_sock: str) -> str:
    tls = f" ssl crt {pki.server_pem} ca-file {pki.ca} verify required" if pki is not None else ""
    return (
        _haproxy_head(stats_sock)
        + f"""
frontend fe
    bind 127.0.0.1:{port}{tls}
    default_backend app

backend app
    server app 127.0.0.1:{b.h1}
"""
    )


def haproxy_tls_terminating(b: configs.Backend, port: int, pki: Pki, stats_sock: str) -> str:
    return (
        _haproxy_head(stats_sock)
        + f"""
frontend fe
    bind 127.0.0.1:{port} ssl crt {pki.server_pem}
    default_backend api

backend api
    server s1 127.0.0.1:{b.h1}
"""
    )


def dump(directory: str, b: configs.Backend) -> dict[str, str]:
    """Every TLS config with example ports, for `bench/run --dump-configs` (the PKI is made
    in `directory` too, so the files point at real certificates)."""
    pki = make_pki(os.path.join(directory, "pki"))
    sock = os.path.join(directory, "haproxy.sock")
    return {
        "weft-s3-a-plain.yaml": weft_outbound(b, 18200, 18290, 18201, None),
        "weft-s3-b-plain.yaml": weft_inbound(b, 18201, 18291, None),
        "weft-s3-a-mtls.yaml": weft_outbound(b, 18200, 18290, 18201, pki),
        "weft-s3-b-mtls.yaml": weft_inbound(b, 18201, 18291, pki),
        "haproxy-s3-a-mtls.cfg": haproxy_outbound(b, 18210, 18211, pki, sock),
        "haproxy-s3-b-mtls.cfg": haproxy_inbound(b, 18211, pki, sock),
        "weft-s7-tls.yaml": weft_tls_terminating(b, 18300, 18390, pki),
        "haproxy-s7-tls.cfg": haproxy_tls_terminating(b, 18310, pki, sock),
    }

