"""Repeated, interleaved load runs with the proxy's CPU and memory read around each run.

Runs are interleaved (direct, weft, haproxy, nginx, then the next repetition in a rotated
order) so that background load on a shared machine hits every target alike; each figure in a
row is the median over the repetitions.
"""

import statistics
from collections.abc import Callable

from .procs import machine_busy_seconds
from .targets import Bench, Target

LoadFn = Callable[[Target, int], dict]


def _one_run(bench: Bench, t: Target, fn: LoadFn, seconds: int) -> dict:
    backend = bench.backend_proc
    proxy_cpu0 = t.proc.cpu() if t.proc else 0.0
    backend_cpu0 = backend.cpu() if backend else 0.0
    busy0, total0 = machine_busy_seconds()
    result = fn(t, seconds)
    busy1, total1 = machine_busy_seconds()
    proxy_cpu = (t.proc.cpu() - proxy_cpu0) if t.proc else 0.0
    backend_cpu = (backend.cpu() - backend_cpu0) if backend else 0.0
    span = max(total1 - total0, 1e-9)
    ours = proxy_cpu + backend_cpu + result["loadgen_cpu_s"]
    result.update(
        proxy_cpu_s=proxy_cpu,
        backend_cpu_s=backend_cpu,
        machine_busy_pct=100 * (busy1 - busy0) / span,
        # Everything else the machine did meanwhile (other builds, kernel softirq work).
        foreign_cpu_pct=max(0.0, 100 * ((busy1 - busy0) - ours) / span),
    )
    if t.proc:
        result["cpu_us_per_req"] = 1e6 * proxy_cpu / max(result["requests"], 1)
        result.update(t.proc.memory())
    return result


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def summarize(t: Target, runs: list[dict]) -> dict:
    row = {"target": t.name}
    if t.unsupported:
        row["unsupported"] = t.unsupported
        return row
    for key in ("rps", "p50_us", "p90_us", "p99_us", "cpu_us_per_req", "machine_busy_pct", "foreign_cpu_pct"):
        row[key] = _median(runs, key)
    row["requests"] = sum(r["requests"] for r in runs)
    row["errors"] = sum(r["errors"] for r in runs)
    if t.proc:
        row["rss_kb"] = max(r.get("rss_kb", 0) for r in runs)
        row["hwm_kb"] = max(r.get("hwm_kb", 0) for r in runs)
        row["idle_rss_kb"] = t.idle_mem.get("rss_kb")
    row["runs"] = runs
    return row


def interleaved(bench: Bench, targets: list[Target], fn: LoadFn) -> list[dict]:
    """Warm each usable target up, then run `bench.s.runs` interleaved repetitions."""
    usable = [t for t in targets if not t.unsupported]
    for t in usable:
        if t.proc is not None:  # the backend (direct) stays up all run and needs no warm-up
            fn(t, bench.s.warmup)
    runs: dict[str, list[dict]] = {t.name: [] for t in usable}
    for rep in range(bench.s.runs):
        k = rep % max(len(usable), 1)
        for t in usable[k:] + usable[:k]:
            runs[t.name].append(_one_run(bench, t, fn, bench.s.seconds))
    return [summarize(t, runs.get(t.name, [])) for t in targets]


def ratio(rows: list[dict], name: str, key: str = "rps", base: str = "direct") -> float | None:
    by = {r["target"]: r for r in rows}
    a, b = by.get(name, {}).get(key), by.get(base, {}).get(key)
    if not a or not b:
        return None
    return a / b
