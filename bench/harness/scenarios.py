"""Throughput and latency scenarios: S0 direct, S1 L4, S2 L7 HTTP/1.1, S5 ping-pong, S6 h2c.

Each returns a result dict (see report.py for its shape); weft rows that could not run carry
`unsupported` with the reason instead of numbers.
"""

import contextlib

from . import configs, load
from .measure import interleaved, ratio
from .procs import pinned
from .targets import Bench, Target, h2c_works

NOT_YET = "n/a: weft not supported yet"


@contextlib.contextmanager
def started(bench: Bench, names: list[str], kind: str):
    targets: list[Target] = []
    try:
        for name in names:
            targets.append(bench.start(name, kind))
        yield targets
    finally:
        for t in targets:
            t.stop()


def _wrk_fn(bench: Bench, conns: int):
    def fn(t: Target, seconds: int) -> dict:
        return load.wrk(t.port, configs.HOST, configs.PATH, conns, seconds, bench.s.cpu_load)

    return fn


def _h2_fn(bench: Bench, conns: int, streams: int):
    def fn(t: Target, seconds: int) -> dict:
        return load.h2load(t.h2c_port, configs.HOST, configs.PATH, conns, streams, seconds, bench.s.cpu_load)

    return fn


def _wrk_cmd(bench: Bench, port_name: str, conns: int) -> str:
    argv = load.wrk_argv(0, configs.HOST, configs.PATH, conns, bench.s.seconds)
    return bench.show(pinned(argv, bench.s.cpu_load)).replace("127.0.0.1:0", f"127.0.0.1:<{port_name}>")


def _h2_cmd(bench: Bench, port_name: str, conns: int, streams: int) -> str:
    argv = load.h2load_argv(0, configs.HOST, configs.PATH, conns, streams, bench.s.seconds, "h2load.log")
    return bench.show(pinned(argv, bench.s.cpu_load)).replace("127.0.0.1:0", f"127.0.0.1:<{port_name}>")


def _proc_cmds(targets: list[Target]) -> list[str]:
    return [f"{t.name}: {t.command}" for t in targets if t.command and t.name != "direct"]


def _tag(rows: list[dict], variant: str) -> list[dict]:
    for r in rows:
        r["variant"] = variant
    return rows


def _ratios_line(sid: str, rows: list[dict], names: list[str], prefix: str = "") -> str:
    parts = []
    for name in names:
        row = next((r for r in rows if r["target"] == name), {})
        if row.get("unsupported"):
            parts.append(f"{prefix}{name}/direct=n/a")
            continue
        value = ratio(rows, name)
        parts.append(
            f"{prefix}{name}/direct={value:.2f}" if value is not None else f"{prefix}{name}/direct=n/a"
        )
    return f"{sid} " + " ".join(parts) if sid else " ".join(parts)


def s0(bench: Bench) -> dict:
    rows, commands = [], [f"backend: {bench.backend_cmd}"]
    direct = bench.start("direct", "http")
    for conns in (1, 16, 64):
        rows += _tag(interleaved(bench, [direct], _wrk_fn(bench, conns)), f"HTTP/1.1 c={conns}")
        commands.append(_wrk_cmd(bench, "backend h1", conns))
    for conns in (1, 16, 64):
        rows += _tag(interleaved(bench, [direct], _h2_fn(bench, conns, 1)), f"h2c c={conns} m=1")
        commands.append(_h2_cmd(bench, "backend h2c", conns, 1))

    def rps(v: str) -> str:
        r = next(r for r in rows if r["variant"] == v)
        return f"{r['rps']:.0f}"

    summary = "S0 direct rps " + " ".join(
        f"{'h1' if v.startswith('HTTP') else 'h2c'}-c{v.split('c=')[1].split()[0]}={rps(v)}"
        for v in [r["variant"] for r in rows]
    )
    return {"rows": rows, "summary": summary, "verdict": "baseline (no target)", "commands": commands}


def _single_hop(
    bench: Bench, sid: str, kind: str, names: list[str], conns: int
) -> tuple[list[dict], list[str]]:
    with started(bench, names, kind) as targets:
        rows = _tag(interleaved(bench, targets, _wrk_fn(bench, conns)), f"c={conns}")
        commands = [
            f"backend: {bench.backend_cmd}",
            *_proc_cmds(targets),
            _wrk_cmd(bench, "target port", conns),
        ]
    return rows, commands


def _get(rows: list[dict], name: str, key: str):
    row = next((r for r in rows if r["target"] == name), {})
    return None if row.get("unsupported") else row.get(key)


def s1(bench: Bench) -> dict:
    names = ["direct", "weft", "haproxy"]
    rows, commands = _single_hop(bench, "S1", "tcp", names, 64)
    weft, haproxy = _get(rows, "weft", "rps"), _get(rows, "haproxy", "rps")
    verdict = NOT_YET if weft is None else ("met" if weft >= haproxy else "NOT met")
    return {
        "rows": rows,
        "summary": _ratios_line("S1", rows, names[1:]),
        "verdict": verdict,
        "commands": commands,
    }


def s2(bench: Bench) -> dict:
    names = ["direct", "weft", "haproxy", "nginx"]
    rows, commands = _single_hop(bench, "S2", "http", names, 64)
    weft_ratio, haproxy = ratio(rows, "weft"), _get(rows, "haproxy", "rps")
    if _get(rows, "weft", "rps") is None:
        verdict = NOT_YET
    else:
        ok = weft_ratio >= 0.8 and _get(rows, "weft", "rps") > haproxy
        verdict = "met" if ok else "NOT met"
    return {
        "rows": rows,
        "summary": _ratios_line("S2", rows, names[1:]),
        "verdict": verdict,
        "commands": commands,
    }


def s5(bench: Bench) -> dict:
    names = ["direct", "weft", "haproxy", "nginx"]
    rows, commands = _single_hop(bench, "S5", "http", names, 1)
    base50, base99 = _get(rows, "direct", "p50_us"), _get(rows, "direct", "p99_us")
    for r in rows:
        if not r.get("unsupported") and r["target"] != "direct":
            r["added_p50_us"] = r["p50_us"] - base50
            r["added_p99_us"] = r["p99_us"] - base99
    parts = []
    for name in names[1:]:
        added = _get(rows, name, "added_p50_us")
        parts.append(f"{name}=+{added:.0f}" if added is not None else f"{name}=n/a")
    weft, haproxy = _get(rows, "weft", "added_p50_us"), _get(rows, "haproxy", "added_p50_us")
    verdict = NOT_YET if weft is None else ("met" if weft < haproxy else "NOT met")
    summary = "S5 added_p50_us " + " ".join(parts)
    return {"rows": rows, "summary": summary, "verdict": verdict, "commands": commands}


def s6(bench: Bench) -> dict:
    names = ["direct", "weft", "haproxy", "nginx"]
    rows, commands, lines = [], [], []
    with started(bench, names, "http") as targets:
        for t in targets:
            if not t.unsupported and t.name != "direct":
                why = h2c_works(t.h2c_port, configs.HOST)
                if why and t.name == "weft":
                    t.unsupported = why
                elif why:
                    raise RuntimeError(f"{t.name} does not serve h2c: {why}")
        commands += [f"backend: {bench.backend_cmd}", *_proc_cmds(targets)]
        for streams in (10, 100):
            got = _tag(interleaved(bench, targets, _h2_fn(bench, 4, streams)), f"c=4 m={streams}")
            rows += got
            commands.append(_h2_cmd(bench, "target h2c port", 4, streams))
            lines.append(_ratios_line("", got, names[1:], prefix=f"m{streams}:"))
    weft = [ratio(rows[i : i + 4], "weft") for i in range(0, len(rows), 4)]
    verdict = NOT_YET if None in weft else "reported (no target set yet)"
    return {"rows": rows, "summary": "S6 " + " ".join(lines), "verdict": verdict, "commands": commands}
