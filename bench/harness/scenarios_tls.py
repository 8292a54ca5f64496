"""TLS scenarios: S3 sidecar pair at a fixed rate (plaintext and mTLS), S7 TLS handshakes per
second per core (full and resumed).

Both make the run's PKI with openssl (configs_tls.make_pki) in the work dir. Each returns a
result dict like the other scenarios (rows, summary, verdict, commands); a weft row that could
not run carries `unsupported` with the reason.
"""

import re
import shlex
import time

from . import configs, configs_tls, load
from .load import LoadError, _run_timed
from .measure import interleaved
from .procs import pinned
from .scenarios import NOT_YET
from .targets import Bench, Target
from .tls_targets import pair_tls_evidence, start_pair, start_terminating, terminating_handshakes

S3_RATE = 1000
S3_CONNS = 10
ISTIO_MTLS_P90_MS = 0.23
PAIRS = ["weft plaintext", "haproxy plaintext", "weft mTLS", "haproxy mTLS"]


def _pki(bench: Bench) -> configs_tls.Pki:
    return configs_tls.make_pki(bench.path("pki"))


def _rate_fn(bench: Bench):
    def fn(t: Target, seconds: int) -> dict:
        cpu = bench.s.cpu_load
        return load.h2load(t.port, configs.HOST, configs.PATH, S3_CONNS, 1, seconds, cpu, S3_RATE)

    return fn


def _rate_cmd(bench: Bench) -> str:
    seconds = bench.s.seconds
    argv = load.h2load_argv(0, configs.HOST, configs.PATH, S3_CONNS, 1, seconds, "h2load.log", S3_RATE)
    return bench.show(pinned(argv, bench.s.cpu_load)).replace("127.0.0.1:0", "127.0.0.1:<proxy A port>")


def _check_pairs(pairs: list[Target]) -> dict:
    """After the runs: the proxies' own counters must show TLS on exactly the mTLS pairs."""
    evidence = {}
    for t in pairs:
        if t.unsupported or t.proc is None:
            continue
        got, wrong = pair_tls_evidence(t, t.name.endswith("mTLS"))
        evidence[t.name] = got
        if wrong and t.name.startswith("weft"):
            t.unsupported = wrong
        elif wrong:
            raise RuntimeError(f"S3 {t.name}: {wrong}")
    return evidence


def _s3_rows(raw: list[dict], evidence: dict) -> list[dict]:
    """Split `weft mTLS` into target/variant, add the deltas over direct and over plaintext."""
    base = raw[0]
    rows = []
    for r in raw:
        name, _, variant = r["target"].partition(" ")
        r.update(target=name, variant=variant or "direct")
        if r.get("cpu_us_per_req") is not None:
            # CPU seconds per 1,000 requests = vCPU used at 1,000 req/s.
            r["vcpu_per_1k_rps"] = r["cpu_us_per_req"] / 1000
        if not r.get("unsupported") and name != "direct":
            for p in ("p50", "p90", "p99"):
                r[f"added_{p}_us"] = r[f"{p}_us"] - base[f"{p}_us"]
        r["tls_evidence"] = evidence.get(f"{name} {variant}")
        rows.append(r)
    for r in rows:
        plain = next((x for x in rows if x["target"] == r["target"] and x["variant"] == "plaintext"), None)
        if r["variant"] != "mTLS" or r.get("unsupported") or not plain or plain.get("unsupported"):
            continue
        for p in ("p50", "p90", "p99"):
            r[f"mtls_minus_plain_{p}_us"] = r[f"{p}_us"] - plain[f"{p}_us"]
        if r.get("vcpu_per_1k_rps") is not None and plain.get("vcpu_per_1k_rps") is not None:
            r["mtls_minus_plain_vcpu"] = r["vcpu_per_1k_rps"] - plain["vcpu_per_1k_rps"]
    return rows


def _s3_summary(rows: list[dict]) -> str:
    def cell(target: str, variant: str, key: str, fmt: str) -> str:
        r = next((x for x in rows if x["target"] == target and x["variant"] == variant), {})
        return "n/a" if r.get(key) is None else format(r[key], fmt)

    parts = []
    for variant in ("plaintext", "mTLS"):
        parts.append(
            f"{variant}-added-p90-us: "
            + " ".join(f"{t}={cell(t, variant, 'added_p90_us', '+.0f')}" for t in ("weft", "haproxy"))
        )
    parts.append(
        "mTLS-minus-plaintext-p90-us: "
        + " ".join(f"{t}={cell(t, 'mTLS', 'mtls_minus_plain_p90_us', '+.0f')}" for t in ("weft", "haproxy"))
    )
    parts.append(
        "vCPU/1k-rps mTLS: "
        + " ".join(f"{t}={cell(t, 'mTLS', 'vcpu_per_1k_rps', '.3f')}" for t in ("weft", "haproxy"))
    )
    return "S3 " + "; ".join(parts)


def _verdict(rows: list[dict]) -> str:
    errors = sum(r.get("errors") or 0 for r in rows)
    short = [f"{r['target']} {r['variant']}" for r in rows if r.get("rps") and r["rps"] < 0.95 * S3_RATE]
    notes = []
    if errors:
        notes.append(f"{errors} failed or non-2xx requests")
    if short:
        notes.append("rate not reached by " + ", ".join(short))
    weft_ok = all(not r.get("unsupported") for r in rows if r["target"] == "weft")
    head = "reported (no target set yet)" if weft_ok else NOT_YET
    return head + (f"; {'; '.join(notes)}" if notes else "")


def s3(bench: Bench) -> dict:
    pki = _pki(bench)
    direct = bench.start("direct", "http")
    targets: list[Target] = [direct]
    try:
        for label in PAIRS:
            targets.append(start_pair(bench, label, pki if label.endswith("mTLS") else None))
        raw = interleaved(bench, targets, _rate_fn(bench))
        evidence = _check_pairs(targets[1:])
        for t, r in zip(targets, raw):
            if t.unsupported and not r.get("unsupported"):
                r.clear()
                r.update(target=t.name, unsupported=t.unsupported)
        commands = [
            f"backend: {bench.backend_cmd}",
            "pki: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256, openssl req / x509 -req "
            "(CA, client and server leaves in $WORK/pki; see bench/harness/configs_tls.py)",
            *[f"{t.name}: {t.command}" for t in targets[1:] if t.command],
            _rate_cmd(bench),
        ]
    finally:
        for t in targets[1:]:
            t.stop()
    rows = _s3_rows(raw, evidence)
    return {"rows": rows, "summary": _s3_summary(rows), "verdict": _verdict(rows), "commands": commands}


# s_time's -www path goes into `GET %s HTTP/1.0\r\n\r\n`: the extra lines make it a request
# the shared routing table accepts (Host) and that ends the connection after the answer.
S7_REQUEST = f"{configs.PATH} HTTP/1.0\r\nHost: {configs.HOST}\r\nConnection: close\r\nX-Bench: s_time"
S7_VARIANTS = [
    ("full, handshake only", ["-new"]),
    ("full + 1 request", ["-new", "-www", S7_REQUEST]),
    ("resumed + 1 request", ["-reuse", "-www", S7_REQUEST]),
]


def _dollar_quoted(text: str) -> str:
    """`text` as a bash $'...' string, so a command with CR LF in it prints on one line."""
    for raw, escaped in (("\\", "\\\\"), ("'", "\\'"), ("\r", "\\r"), ("\n", "\\n")):
        text = text.replace(raw, escaped)
    return f"$'{text}'"


def s_time_argv(port: int, pki: configs_tls.Pki, mode: list[str], seconds: int) -> list[str]:
    target = f"127.0.0.1:{port}"
    return ["openssl", "s_time", "-connect", target, *mode, "-time", str(seconds), "-CAfile", pki.ca]


def s_time(
    port: int, pki: configs_tls.Pki, mode: list[str], seconds: int, cpu: str | None, limit: float = 30
) -> dict:
    """One s_time run: connections made, how many resumed, and wall-clock rate. s_time checks
    its -time only between connections, so a connection the server never ends is cut off
    `limit` seconds after -time."""
    argv = pinned(s_time_argv(port, pki, mode, seconds), cpu)
    started = time.monotonic()
    code, text, load_cpu = _run_timed(argv, seconds + limit)
    wall = time.monotonic() - started
    done = re.search(r"^(\d+) connections in [\d.]+s;", text, re.M)
    per_conn = re.search(r"(\d+) bytes read per connection", text)
    if code != 0 or not done:
        raise LoadError(f"openssl s_time failed (exit {code}): {text.strip()[-400:]}")
    # One progress character per connection: `r` when the session was resumed.
    marks = "".join(ln for ln in text.splitlines() if ln and set(ln) <= set("*rt3 "))
    n = int(done.group(1))
    return {
        "requests": n,
        "seconds": wall,
        "rps": n / wall,
        "resumed": marks.count("r"),
        "bytes_per_conn": int(per_conn.group(1)) if per_conn else None,
        "errors": 0,
        "loadgen_cpu_s": load_cpu,
    }


def _s7_fn(bench: Bench, pki: configs_tls.Pki, mode: list[str]):
    def fn(t: Target, seconds: int) -> dict:
        return s_time(t.port, pki, mode, seconds, bench.s.cpu_load)

    return fn


def _s7_check(row: dict, runs_total: int, counted: int, mode: list[str]) -> str | None:
    """Why a row's figures are not what its variant claims, or None."""
    if counted < runs_total:
        return f"the proxy counted {counted} TLS handshakes for {runs_total} s_time connections"
    resumed = sum(r.get("resumed", 0) for r in row.get("runs", []))
    if "-reuse" in mode and resumed < 0.9 * runs_total:
        return f"only {resumed} of {runs_total} connections resumed their session"
    if "-www" in mode and not all(r.get("bytes_per_conn") for r in row.get("runs", [])):
        return "no response bytes read over TLS"
    return None


def _probe_weft(bench: Bench, targets: list[Target], pki, mode: list[str]) -> Target | None:
    """A one-second s_time against weft first: a weft that cannot do this variant (say, never
    closes after `Connection: close`) gets a row saying so instead of failing the scenario.
    Returns the weft target it marked unsupported for this variant only."""
    weft = next((t for t in targets if t.name == "weft" and not t.unsupported), None)
    if weft is None:
        return None
    try:
        s_time(weft.port, pki, mode, 1, bench.s.cpu_load, limit=8)
    except LoadError as e:
        weft.unsupported = str(e)
        return weft
    return None


def _s7_variant(bench: Bench, targets: list[Target], pki, variant: str, mode: list[str]) -> list[dict]:
    skipped = _probe_weft(bench, targets, pki, mode)
    before = {t.name: terminating_handshakes(t) for t in targets if not t.unsupported}
    rows = interleaved(bench, targets, _s7_fn(bench, pki, mode))
    if skipped is not None:
        skipped.unsupported = None  # the next variant tries again
    for t, row in zip(targets, rows):
        row["variant"] = variant
        if row.get("unsupported"):
            continue
        # The warm-up run's handshakes count too; everything s_time made must be on the proxy.
        counted = terminating_handshakes(t) - before[t.name]
        wrong = _s7_check(row, row["requests"], counted, mode)
        if wrong and t.name == "weft":
            row.clear()
            row.update(target="weft", variant=variant, unsupported=wrong)
            continue
        if wrong:
            raise RuntimeError(f"S7 {t.name} {variant}: {wrong}")
        row["resumed"] = sum(r.get("resumed", 0) for r in row["runs"])
        if row.get("cpu_us_per_req"):
            row["per_core"] = 1e6 / row["cpu_us_per_req"]
    return rows


def s7(bench: Bench) -> dict:
    pki = _pki(bench)
    targets: list[Target] = []
    rows = []
    try:
        for kind in ("weft", "haproxy"):
            targets.append(start_terminating(bench, kind, pki))
        for variant, mode in S7_VARIANTS:
            rows += _s7_variant(bench, targets, pki, variant, mode)
        commands = [f"backend: {bench.backend_cmd}"]
        commands += [f"{t.name}: {t.command}" for t in targets if t.command]
        commands.append("S7_REQUEST=" + _dollar_quoted(S7_REQUEST))
        for _, mode in S7_VARIANTS:
            argv = pinned(s_time_argv(0, pki, mode, bench.s.seconds), bench.s.cpu_load)
            shown = bench.show(argv).replace("127.0.0.1:0", "127.0.0.1:<proxy port>")
            commands.append(shown.replace(shlex.quote(S7_REQUEST), '"$S7_REQUEST"'))
    finally:
        for t in targets:
            t.stop()

    def cell(target: str, variant: str) -> str:
        r = next((x for x in rows if x["target"] == target and x["variant"] == variant), {})
        return "n/a" if r.get("per_core") is None else f"{r['per_core']:.0f}"

    summary = "S7 handshakes per proxy-CPU-second " + "; ".join(
        f"{v}: " + " ".join(f"{t}={cell(t, v)}" for t in ("weft", "haproxy")) for v, _ in S7_VARIANTS
    )
    weft_ok = all(not r.get("unsupported") for r in rows if r["target"] == "weft")
    verdict = "reported (no target set yet)" if weft_ok else NOT_YET
    return {"rows": rows, "summary": summary, "verdict": verdict, "commands": commands}
