"""Memory scenarios: S8 idle RSS and RSS per 1,000 idle connections, S9 config scale."""

import os

from . import configs, load
from .procs import pinned
from .scenarios import NOT_YET
from .targets import Bench, Target

ENVOY_BYTES_PER_CLUSTER = 40 * 1024
# "Far below Envoy's ~40 KB" is read here as at most a quarter of it.
CLUSTER_BUDGET = ENVOY_BYTES_PER_CLUSTER // 4


def _hold(bench: Bench, t: Target, kind: str, variant: str) -> dict:
    n = bench.s.idle_conns
    before = t.proc.memory()
    held = load.hold_idle(
        t.port, n, configs.HOST if kind == "http" else None, 0.5 if bench.s.quick else 1.0, t.proc.memory
    )
    after = held["measured"]
    opened = max(held["open"], 1)
    return {
        "target": t.name,
        "variant": variant,
        "idle_rss_kb": t.idle_mem["rss_kb"],
        "rss_before_kb": before["rss_kb"],
        "rss_kb": after["rss_kb"],
        "hwm_kb": after["hwm_kb"],
        "conns": held["open"],
        "errors": held["failed"],
        "open_seconds": held["open_seconds"],
        "rss_per_1k_kb": (after["rss_kb"] - before["rss_kb"]) / opened * 1000,
    }


def s8(bench: Bench) -> dict:
    n = bench.s.idle_conns
    rows, commands = [], [f"backend: {bench.backend_cmd}"]
    plan = [
        ("http", ["weft", "haproxy", "nginx"], f"HTTP keep-alive x{n}"),
        ("tcp", ["weft", "haproxy"], f"TCP x{n}"),
    ]
    for kind, names, variant in plan:
        for name in names:
            t = bench.start(name, kind)
            try:
                if t.unsupported:
                    rows.append({"target": name, "variant": variant, "unsupported": t.unsupported})
                    continue
                commands.append(f"{name} ({kind}): {t.command}")
                rows.append(_hold(bench, t, kind, variant))
            finally:
                t.stop()
    commands.append(
        f"client: bench/harness/load.py hold_idle(): {n} connections from one asyncio process "
        "(HTTP: one `GET /api/idle` each, then idle; TCP: connect only), RSS read while all are open"
    )

    def val(name: str, variant_prefix: str, key: str, scale: float = 1024) -> str:
        row = next((r for r in rows if r["target"] == name and r["variant"].startswith(variant_prefix)), {})
        return "n/a" if row.get("unsupported") or key not in row else f"{row[key] / scale:.2f}"

    summary = (
        "S8 idle_rss_mb "
        + " ".join(f"{x}={val(x, 'HTTP', 'idle_rss_kb')}" for x in ("weft", "haproxy", "nginx"))
        + "; mb_per_1k_http "
        + " ".join(f"{x}={val(x, 'HTTP', 'rss_per_1k_kb')}" for x in ("weft", "haproxy", "nginx"))
        + "; mb_per_1k_tcp "
        + " ".join(f"{x}={val(x, 'TCP', 'rss_per_1k_kb')}" for x in ("weft", "haproxy"))
    )
    weft_idle = next((r for r in rows if r["target"] == "weft" and not r.get("unsupported")), None)
    if weft_idle is None:
        verdict = NOT_YET
    else:
        verdict = "met" if weft_idle["idle_rss_kb"] < 10 * 1024 else "NOT met"
    return {"rows": rows, "summary": summary, "verdict": verdict, "commands": commands}


def _scale_row(bench: Bench, t: Target, n: int) -> dict:
    seconds = max(1, bench.s.seconds // 2)
    host = f"svc-{n - 1}.bench"
    r = load.wrk(t.port, host, "/", 64, seconds, bench.s.cpu_load)
    mem = t.proc.memory()
    return {
        "target": t.name,
        "variant": f"{n} clusters",
        "clusters": n,
        "config_bytes": os.path.getsize(t.config_path),
        "ready_ms": t.ready_s * 1000,
        "idle_rss_kb": t.idle_mem["rss_kb"],
        "rss_kb": mem["rss_kb"],
        "hwm_kb": mem["hwm_kb"],
        "rps": r["rps"],
        "p50_us": r["p50_us"],
        "p99_us": r["p99_us"],
        "errors": r["errors"],
    }


def _per_cluster(rows: list[dict]) -> None:
    by_target: dict[str, list[dict]] = {}
    for r in rows:
        if not r.get("unsupported"):
            by_target.setdefault(r["target"], []).append(r)
    for group in by_target.values():
        base = min(group, key=lambda r: r["clusters"])
        for r in group:
            if r is not base:
                grown = (r["rss_kb"] - base["rss_kb"]) * 1024
                r["bytes_per_cluster"] = grown / (r["clusters"] - base["clusters"])
                r["rps_vs_smallest"] = r["rps"] / base["rps"] if base["rps"] else None


def s9(bench: Bench) -> dict:
    sizes = bench.s.scale_sizes
    rows, commands = [], [f"backend: {bench.backend_cmd}"]
    for name, start in (("weft", bench.start_weft_scale), ("haproxy", bench.start_haproxy_scale)):
        for n in sizes:
            t = start(n)
            try:
                if t.unsupported:
                    rows.append(
                        {
                            "target": name,
                            "variant": f"{n} clusters",
                            "clusters": n,
                            "unsupported": t.unsupported,
                        }
                    )
                    continue
                commands.append(f"{name} ({n}): {t.command}")
                rows.append(_scale_row(bench, t, n))
            finally:
                t.stop()
    argv = load.wrk_argv(0, "svc-<N-1>.bench", "/", 64, max(1, bench.s.seconds // 2))
    commands.append(bench.show(pinned(argv, bench.s.cpu_load)).replace("127.0.0.1:0", "127.0.0.1:<port>"))
    _per_cluster(rows)
    biggest = max(sizes)

    def at(name: str, key: str, fmt: str) -> str:
        row = next((r for r in rows if r["target"] == name and r["clusters"] == biggest), {})
        return "n/a" if row.get(key) is None else format(row[key], fmt)

    summary = (
        f"S9 bytes_per_cluster@{biggest} weft={at('weft', 'bytes_per_cluster', '.0f')} "
        f"haproxy={at('haproxy', 'bytes_per_cluster', '.0f')}; ready_ms@{biggest} "
        f"weft={at('weft', 'ready_ms', '.0f')} haproxy={at('haproxy', 'ready_ms', '.0f')}; "
        f"rps@{biggest}/rps@{min(sizes)} weft={at('weft', 'rps_vs_smallest', '.2f')} "
        f"haproxy={at('haproxy', 'rps_vs_smallest', '.2f')}"
    )
    weft = next((r for r in rows if r["target"] == "weft" and r["clusters"] == biggest), {})
    if weft.get("bytes_per_cluster") is None:
        verdict = NOT_YET
    else:
        verdict = "met" if weft["bytes_per_cluster"] < CLUSTER_BUDGET else "NOT met"
    return {"rows": rows, "summary": summary, "verdict": verdict, "commands": commands}
