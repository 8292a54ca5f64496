"""Results: JSON and markdown in bench/results/DATE-SHA.{json,md}, and docs/performance.md.

A run of some scenarios merges into the day's results file for the same commit, so running
`bench/run S2` after a full pass updates S2 and keeps the rest.
"""

import json
import os
import statistics

from .catalog import CATALOG

MB = 1024.0


def _num(v, fmt: str = ",.0f") -> str:
    return "—" if v is None else format(v, fmt)


def _mb(kb) -> str:
    return "—" if kb is None else f"{kb / MB:.1f}"


def _direct_ratio(rows: list[dict], row: dict) -> str:
    base = next((r for r in rows if r["target"] == "direct" and r.get("variant") == row.get("variant")), None)
    if not base or not base.get("rps") or not row.get("rps"):
        return "—"
    return f"{row['rps'] / base['rps']:.2f}"


def _triple(row: dict, key: str) -> str:
    values = [row.get(key.format(p)) for p in ("p50", "p90", "p99")]
    return "—" if None in values else " / ".join(format(v, "+,.0f") for v in values)


# Per table kind: (header, cell function(rows, row)).
COLUMNS = {
    "baseline": [
        ("variant", lambda rs, r: r["variant"]),
        ("req/s", lambda rs, r: _num(r.get("rps"))),
        ("p50 µs", lambda rs, r: _num(r.get("p50_us"))),
        ("p90 µs", lambda rs, r: _num(r.get("p90_us"))),
        ("p99 µs", lambda rs, r: _num(r.get("p99_us"))),
        ("errors", lambda rs, r: _num(r.get("errors"))),
    ],
    "hop": [
        ("variant", lambda rs, r: r["variant"]),
        ("target", lambda rs, r: r["target"]),
        ("req/s", lambda rs, r: _num(r.get("rps"))),
        ("× direct", _direct_ratio),
        ("p50 µs", lambda rs, r: _num(r.get("p50_us"))),
        ("p99 µs", lambda rs, r: _num(r.get("p99_us"))),
        ("proxy CPU µs/req", lambda rs, r: _num(r.get("cpu_us_per_req"), ".1f")),
        ("RSS MB", lambda rs, r: _mb(r.get("rss_kb"))),
        ("peak RSS MB", lambda rs, r: _mb(r.get("hwm_kb"))),
        ("errors", lambda rs, r: _num(r.get("errors"))),
    ],
    "latency": [
        ("target", lambda rs, r: r["target"]),
        ("p50 µs", lambda rs, r: _num(r.get("p50_us"))),
        ("p99 µs", lambda rs, r: _num(r.get("p99_us"))),
        ("added p50 µs", lambda rs, r: _num(r.get("added_p50_us"), "+,.0f")),
        ("added p99 µs", lambda rs, r: _num(r.get("added_p99_us"), "+,.0f")),
        ("req/s", lambda rs, r: _num(r.get("rps"))),
        ("proxy CPU µs/req", lambda rs, r: _num(r.get("cpu_us_per_req"), ".1f")),
        ("errors", lambda rs, r: _num(r.get("errors"))),
    ],
    "pair": [
        ("target", lambda rs, r: r["target"]),
        ("between A and B", lambda rs, r: r["variant"]),
        ("req/s", lambda rs, r: _num(r.get("rps"))),
        ("p50 µs", lambda rs, r: _num(r.get("p50_us"))),
        ("p90 µs", lambda rs, r: _num(r.get("p90_us"))),
        ("p99 µs", lambda rs, r: _num(r.get("p99_us"))),
        ("added p50/p90/p99 µs", lambda rs, r: _triple(r, "added_{}_us")),
        ("mTLS − plaintext p50/p90/p99 µs", lambda rs, r: _triple(r, "mtls_minus_plain_{}_us")),
        ("vCPU per 1,000 rps (A+B)", lambda rs, r: _num(r.get("vcpu_per_1k_rps"), ".3f")),
        ("errors", lambda rs, r: _num(r.get("errors"))),
    ],
    "handshake": [
        ("variant", lambda rs, r: r["variant"]),
        ("target", lambda rs, r: r["target"]),
        ("handshakes/s", lambda rs, r: _num(r.get("rps"))),
        ("resumed", lambda rs, r: _num(r.get("resumed"))),
        ("proxy CPU µs/handshake", lambda rs, r: _num(r.get("cpu_us_per_req"), ".1f")),
        ("handshakes per proxy-CPU-second", lambda rs, r: _num(r.get("per_core"))),
        ("RSS MB", lambda rs, r: _mb(r.get("rss_kb"))),
    ],
    "bulk": [
        ("variant", lambda rs, r: r["variant"]),
        ("target", lambda rs, r: r["target"]),
        ("Gb/s", lambda rs, r: _num(r.get("gbps"), ".2f")),
        ("× direct", lambda rs, r: _num(r.get("x_direct"), ".2f")),
        ("proxy CPU s/GB", lambda rs, r: _num(r.get("cpu_s_per_gb"), ".3f")),
        ("RSS MB", lambda rs, r: _mb(r.get("rss_kb"))),
        ("peak RSS MB", lambda rs, r: _mb(r.get("hwm_kb"))),
        ("retransmits", lambda rs, r: _num(r.get("retransmits"))),
    ],
    "idle": [
        ("variant", lambda rs, r: r["variant"]),
        ("target", lambda rs, r: r["target"]),
        ("idle RSS MB", lambda rs, r: _mb(r.get("idle_rss_kb"))),
        ("RSS before MB", lambda rs, r: _mb(r.get("rss_before_kb"))),
        ("RSS with conns MB", lambda rs, r: _mb(r.get("rss_kb"))),
        ("MB per 1,000 conns", lambda rs, r: _num(r.get("rss_per_1k_kb") and r["rss_per_1k_kb"] / MB, ".2f")),
        ("open", lambda rs, r: _num(r.get("conns"))),
        ("failed", lambda rs, r: _num(r.get("errors"))),
    ],
    "scale": [
        ("target", lambda rs, r: r["target"]),
        ("clusters+routes", lambda rs, r: _num(r.get("clusters"))),
        ("config KB", lambda rs, r: _num(r.get("config_bytes") and r["config_bytes"] / 1024)),
        ("ready ms", lambda rs, r: _num(r.get("ready_ms"))),
        ("idle RSS MB", lambda rs, r: _mb(r.get("idle_rss_kb"))),
        ("RSS after load MB", lambda rs, r: _mb(r.get("rss_kb"))),
        ("bytes/cluster", lambda rs, r: _num(r.get("bytes_per_cluster"))),
        ("req/s (last host)", lambda rs, r: _num(r.get("rps"))),
        ("req/s vs smallest", lambda rs, r: _num(r.get("rps_vs_smallest"), ".2f")),
        ("errors", lambda rs, r: _num(r.get("errors"))),
    ],
    "convergence": [
        ("variant", lambda rs, r: r["variant"]),
        ("converged", lambda rs, r: f"{_num(r.get('converged'))} / {_num(r.get('clients'))}"),
        ("p50 ms", lambda rs, r: _num(r.get("p50_ms"), ",.1f")),
        ("p99 ms", lambda rs, r: _num(r.get("p99_ms"), ",.1f")),
        ("max ms", lambda rs, r: _num(r.get("max_ms"), ",.1f")),
        ("control CPU s", lambda rs, r: _num(r.get("cpu_s"), ".2f")),
        ("adsload CPU s", lambda rs, r: _num(r.get("client_cpu_s"), ".2f")),
        ("RSS MB", lambda rs, r: _mb(r.get("rss_kb"))),
        ("peak RSS MB", lambda rs, r: _mb(r.get("hwm_kb"))),
        ("bytes/proxy", lambda rs, r: _num(r.get("bytes_per_proxy"))),
    ],
}


LEAD_COLUMNS = ("variant", "target", "clusters+routes", "between A and B")


def _table(kind: str, rows: list[dict]) -> list[str]:
    cols = COLUMNS[kind]
    out = ["| " + " | ".join(h for h, _ in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        if r.get("unsupported"):
            lead = [fn(rows, r) for h, fn in cols if h in LEAD_COLUMNS]
            rest = len(cols) - len(lead)
            cells = lead + [f"weft: not supported yet ({r['unsupported'][:160]})"] + ["—"] * (rest - 1)
        else:
            cells = [fn(rows, r) for _, fn in cols]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return out


def _noise(results: dict) -> float | None:
    values = [
        r["foreign_cpu_pct"]
        for s in results["scenarios"].values()
        for r in s["rows"]
        if r.get("foreign_cpu_pct") is not None
    ]
    return statistics.median(values) if values else None


def _header(results: dict) -> list[str]:
    g, s = results["git"], results["settings"]
    modes = sorted({sc["mode"] for sc in results["scenarios"].values()})
    noise = _noise(results)
    out = [
        "# Performance",
        "",
        f"Generated by `bench/run` on {results['date']} from commit `{g['sha']}`"
        + (" (with uncommitted changes)" if g["dirty"] else "")
        + ". Do not edit by hand: run the harness (see [bench/README.md](../bench/README.md)).",
        "",
    ]
    if "quick" in modes or (noise is not None and noise > 10):
        out += [
            "> **Quick run on a busy machine.** "
            + ("One repetition per figure, short runs (`--quick`); " if "quick" in modes else "")
            + (
                f"other processes used a median {noise:.0f}% of the machine during the measured runs. "
                if noise is not None
                else ""
            )
            + "Read the ratios as indicative only; rerun `bench/run` on a quiet machine for real figures.",
            "",
        ]
    out += [
        f"Machine: {results['machine']['cpus']} × {results['machine']['cpu_model']}, "
        f"{results['machine']['mem_gb']} GB, Linux {results['machine']['kernel']}; "
        f"load average at start {results['machine']['loadavg_at_start']}.",
        f"Mode: {', '.join(modes)}; {s['runs']} run(s) of {s['seconds']} s per figure (median), "
        f"{s['warmup']} s warm-up per proxy; CPUs: load generator {s['cpu_load']}, "
        f"backend {s['cpu_backend']}, proxy {s['cpu_proxy']}.",
        "",
    ]
    return out


def _verdict(got: dict) -> str:
    if got["mode"] == "quick" and got["verdict"] in ("met", "NOT met"):
        return got["verdict"] + " (quick run: indicative)"
    return got["verdict"]


def _catalog_table(results: dict) -> list[str]:
    out = ["| id | scenario | target | status | verdict |", "|---|---|---|---|---|"]
    for sc in CATALOG:
        got = results["scenarios"].get(sc.id)
        if sc.run is None:
            status, verdict = f"not built yet ({sc.later})", "—"
        elif got is None:
            status, verdict = "exists, not in this results file", "—"
        else:
            status, verdict = f"measured ({got['mode']}, {got['date']})", _verdict(got)
        out.append(f"| {sc.id} | {sc.title} | {sc.target} | {status} | {verdict} |")
    return out


def _tools(results: dict) -> list[str]:
    out = ["| tool | version |", "|---|---|"]
    out += [f"| {k} | `{v}` |" for k, v in results["tools"].items()]
    return out


def _scenario(sc, got: dict) -> list[str]:
    out = [f"## {sc.id} {sc.title}", "", f"**Target:** {sc.target} **Verdict:** {_verdict(got)}.", ""]
    out += [f"{sc.about}", ""]
    out += _table(sc.table, got["rows"]) + [""]
    out += [
        "```",
        got["summary"],
        "```",
        "",
        "Commands (ports are picked free per run and marked `<...>`; `$WORK` holds the generated "
        "configs, which `bench/run --dump-configs DIR` writes out):",
        "",
        "```",
    ]
    out += got["commands"] + ["```", ""]
    return out


def markdown(results: dict) -> str:
    out = _header(results)
    out += ["## Summary", "", "```"]
    out += [results["scenarios"][sc.id]["summary"] for sc in CATALOG if sc.id in results["scenarios"]]
    out += ["```", "", "## Scenarios", ""] + _catalog_table(results) + [""]
    out += ["## How it was measured", "", METHOD, "", "Tool versions:", ""] + _tools(results) + [""]
    for sc in CATALOG:
        if sc.id in results["scenarios"]:
            out += _scenario(sc, results["scenarios"][sc.id])
    return "\n".join(out).rstrip() + "\n"


METHOD = """\
- **Backend:** one nginx worker (`return 200` with a fixed 64-byte body; HTTP/1.1 and h2c ports,
  plus an "other" port answering 418 so a misrouted request counts as an error). nginx is used
  so the upstream is never the bottleneck and is the same for every target.
- **Targets:** `direct` is the load generator talking to the backend itself. `weft`
  (`weft proxy --bootstrap`, one worker when `--concurrency` exists), `haproxy` (`nbthread 1`)
  and `nginx` (`worker_processes 1`, `proxy_pass` with upstream keepalive) all do the same job
  with generated configs: the same three virtual hosts and the same route order.
- **Pinning:** with 2 CPUs the load generator and the backend share CPU 0 and the proxy has CPU
  1 to itself (`taskset`); with 3 or more each gets its own. One wrk/h2load thread.
- **Repetitions:** every figure is the median over the runs; the targets of a scenario run
  interleaved (rotated order each repetition) so background load hits them alike. Each proxy
  gets a warm-up run first that is not counted.
- **CPU:** utime+stime of the proxy's processes (all threads, nginx master and worker) from
  `/proc/PID/stat`, read before and after each run, divided by the requests served.
- **Memory:** VmRSS and VmHWM (peak) from `/proc/PID/status`, summed over the proxy's processes.
- **Noise:** `/proc/stat` is read around each run; CPU used by anything other than the
  load generator, backend and proxy is recorded per run as `foreign_cpu_pct` in the JSON."""


def results_paths(repo: str, date: str, sha: str) -> tuple[str, str]:
    base = os.path.join(repo, "bench", "results", f"{date}-{sha}")
    return base + ".json", base + ".md"


def merge(previous: dict | None, current: dict) -> dict:
    if not previous or previous.get("schema") != current["schema"]:
        return current
    scenarios = dict(previous.get("scenarios", {}))
    scenarios.update(current["scenarios"])
    return {**current, "scenarios": scenarios}


def write(repo: str, results: dict) -> list[str]:
    json_path, md_path = results_paths(repo, results["date"], results["git"]["sha"])
    previous = None
    if os.path.exists(json_path):
        with open(json_path, encoding="utf-8") as f:
            previous = json.load(f)
    merged = merge(previous, results)
    os.makedirs(os.path.dirname(json_path), exist_ok=True)
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(merged, f, indent=1, sort_keys=False)
        f.write("\n")
    return [json_path, *render(repo, merged, md_path)]


def newest(repo: str) -> str | None:
    folder = os.path.join(repo, "bench", "results")
    if not os.path.isdir(folder):
        return None
    found = [os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".json")]
    return max(found, key=os.path.getmtime) if found else None


def render(repo: str, results: dict, md_path: str) -> list[str]:
    """Write the results file's markdown twin and docs/performance.md."""
    text = markdown(results)
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(text.replace("](../bench/", "](../"))  # bench/results/ is one level down
    docs = os.path.join(repo, "docs", "performance.md")
    with open(docs, "w", encoding="utf-8") as f:
        f.write(text)
    return [md_path, docs]
