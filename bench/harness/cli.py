"""`bench/run [--quick] [SCENARIO...]`: install, build, run the scenarios, write the results."""

import argparse
import datetime
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import time

from . import configs, configs_tls, env, report, scenarios_bulk
from .catalog import BY_ID, CATALOG
from .load import LoadError
from .procs import stop_all
from .targets import Bench, Settings

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA = 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/run", description="weft against direct, nginx and haproxy, side by side."
    )
    p.add_argument(
        "scenarios", nargs="*", metavar="SCENARIO", help="e.g. S2 S5 (default: every built scenario)"
    )
    p.add_argument(
        "--quick", action="store_true", help="1 run of 2 s per figure: a full pass in under 2 minutes"
    )
    p.add_argument("--runs", type=int, help="repetitions per figure (default 3, quick 1)")
    p.add_argument("--seconds", type=int, help="seconds per measured run (default 10, quick 2)")
    p.add_argument("--idle-conns", type=int, help="S8 connections held open (default 5000, quick 1000)")
    p.add_argument("--weft-bin", help="bench this weft binary instead of building one")
    p.add_argument("--no-build", action="store_true", help="use target/release/weft as it is")
    p.add_argument("--cpus", help="LOAD,BACKEND,PROXY cpu lists for taskset (default from the CPU count)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--install", action="store_true", help="install every tool (oha included) and exit")
    p.add_argument("--dump-configs", metavar="DIR", help="write the generated configs to DIR and exit")
    p.add_argument(
        "--render",
        nargs="?",
        const="",
        metavar="JSON",
        help="rewrite the markdown and docs/performance.md from a results file (default: the newest)",
    )
    p.add_argument("--no-write", action="store_true", help="print the results, write no files")
    p.add_argument("--keep", action="store_true", help="keep the work dir (configs, logs) after the run")
    return p


def _cpus(arg: str | None) -> tuple[str | None, str | None, str | None]:
    if arg:
        parts = arg.split(",")
        if len(parts) != 3:
            raise SystemExit("bench: --cpus takes LOAD,BACKEND,PROXY, e.g. 0,0,1")
        return parts[0], parts[1], parts[2]
    n = len(os.sched_getaffinity(0))
    cpus = sorted(os.sched_getaffinity(0))
    if n >= 3:
        return str(cpus[0]), str(cpus[1]), str(cpus[2])
    if n == 2:
        return str(cpus[0]), str(cpus[0]), str(cpus[1])
    return None, None, None


def _settings(a: argparse.Namespace) -> Settings:
    load, backend, proxy = _cpus(a.cpus)
    return Settings(
        quick=a.quick,
        runs=a.runs or (1 if a.quick else 3),
        seconds=a.seconds or (2 if a.quick else 10),
        warmup=1 if a.quick else 2,
        idle_conns=a.idle_conns or (1000 if a.quick else 5000),
        scale_sizes=[10, 1000, 10000],
        cpu_load=load,
        cpu_backend=backend,
        cpu_proxy=proxy,
    )


def _selected(ids: list[str]) -> list:
    if not ids:
        return [sc for sc in CATALOG if sc.run]
    out = []
    for raw in ids:
        sc = BY_ID.get(raw.upper())
        if sc is None:
            raise SystemExit(f"bench: no scenario {raw!r}; `bench/run --list` shows them")
        if sc.run is None:
            raise SystemExit(f"bench: {sc.id} ({sc.title}) is not built yet: {sc.later}")
        out.append(sc)
    return out


def _list() -> int:
    for sc in CATALOG:
        state = "built" if sc.run else f"not yet: {sc.later}"
        print(f"{sc.id:4} {sc.title}  [{state}]\n     target: {sc.target}")
    return 0


def _dump(directory: str) -> int:
    os.makedirs(directory, exist_ok=True)
    b = configs.Backend(18080, 18081, 18082)
    files = {
        "backend.nginx.conf": configs.nginx_backend(directory, b, 1000),
        "weft-http.yaml": configs.weft_http(b, 18100, 18190),
        "weft-tcp.yaml": configs.weft_tcp(b, 18100, 18190),
        "weft-scale-10.yaml": configs.weft_scale(b, 18100, 18190, 10),
        "haproxy-http.cfg": configs.haproxy_http(b, 18101, 18111, 1000),
        "haproxy-tcp.cfg": configs.haproxy_tcp(b, 18101, 1000),
        "nginx-proxy.conf": configs.nginx_proxy(directory, b, 18102, 18112, 1000),
        **configs_tls.dump(directory, b),
        **scenarios_bulk.dump(directory),
    }
    for name, text in files.items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
            f.write(text)
    print(f"bench: wrote {', '.join(files)} to {directory}")
    return 0


def _render(path: str) -> int:
    path = path or report.newest(REPO) or ""
    if not os.path.exists(path):
        print("bench: no results file to render", file=sys.stderr)
        return 2
    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    for out in report.render(REPO, results, path[: -len(".json")] + ".md"):
        print(f"bench: wrote {os.path.relpath(out, REPO)}", file=sys.stderr)
    return 0


def _weft(a: argparse.Namespace) -> str:
    if a.weft_bin:
        return os.path.abspath(a.weft_bin)
    if a.no_build:
        return os.path.join(REPO, "target", "release", "weft")
    return env.build_weft(REPO)


def _run_scenarios(bench: Bench, selected: list, mode: str, today: str) -> tuple[dict, list[str]]:
    done, failed = {}, []
    for sc in selected:
        started = time.monotonic()
        print(f"bench: {sc.id} {sc.title} ...", file=sys.stderr, flush=True)
        try:
            got = sc.run(bench)
        except (RuntimeError, LoadError, OSError) as e:
            failed.append(f"{sc.id}: {e}")
            print(f"bench: {sc.id} FAILED: {e}", file=sys.stderr, flush=True)
            continue
        got.update(mode=mode, date=today, seconds=bench.s.seconds, runs=bench.s.runs)
        done[sc.id] = got
        print(f"bench: {got['summary']}  ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
    return done, failed


def main(argv: list[str]) -> int:
    a = _parser().parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every started process is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if a.list:
        return _list()
    if a.dump_configs:
        return _dump(a.dump_configs)
    if a.render is not None:
        return _render(a.render)
    selected = _selected(a.scenarios)
    t0 = time.monotonic()
    try:
        tools = set(env.APT_TOOLS) if a.install else set().union(*(sc.tools for sc in selected))
        env.ensure_apt_tools(tools)
        if a.install:
            env.ensure_oha()
            return 0
        weft = _weft(a)
    except env.ToolError as e:
        print(f"bench: FATAL: {e}", file=sys.stderr)
        return 2
    prepared = time.monotonic()
    settings = _settings(a)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if settings.cpu_load is not None:
        os.sched_setaffinity(0, {int(c) for c in settings.cpu_load.split(",")})
    work = tempfile.mkdtemp(prefix="weft-bench-")
    caps = env.weft_proxy_caps(weft)
    if not caps["proxy"]:
        print(f"bench: weft: not supported yet ({caps['reason']}); weft rows will say so", file=sys.stderr)
    bench = Bench(REPO, settings, weft, caps, work)
    today = datetime.date.today().isoformat()
    machine = env.machine()
    try:
        bench.start_backend()
        done, failed = _run_scenarios(bench, selected, "quick" if a.quick else "full", today)
    finally:
        stop_all()
        if a.keep:
            print(f"bench: work dir kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    results = {
        "schema": SCHEMA,
        "date": today,
        "git": env.git_info(REPO),
        "machine": machine,
        "tools": env.tool_versions(weft),
        "settings": {k: v for k, v in vars(settings).items()},
        "weft": {"binary": weft, **caps},
        "scenarios": done,
    }
    print("\n".join(d["summary"] for d in done.values()))
    if done and not a.no_write:
        for path in report.write(REPO, results):
            print(f"bench: wrote {os.path.relpath(path, REPO)}", file=sys.stderr)
    print(
        f"bench: {len(done)} scenario(s) in {time.monotonic() - prepared:.0f} s "
        f"(+{prepared - t0:.0f} s installing and building)",
        file=sys.stderr,
    )
    if failed:
        print("bench: FAILED:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    return 0
