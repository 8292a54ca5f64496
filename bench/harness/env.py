"""What the harness needs from the machine: tools (installed when missing), the weft binary,
tool versions and a description of the machine for the report."""

import os
import platform
import re
import shutil
import subprocess
import sys

# tool -> Debian package that ships it
APT_TOOLS = {
    "wrk": "wrk",
    "h2load": "nghttp2-client",
    "nginx": "nginx-light",
    "haproxy": "haproxy",
    "iperf3": "iperf3",
    "taskset": "util-linux",
    "openssl": "openssl",
}
CACHE_DIR = os.environ.get("WEFT_BENCH_CACHE", os.path.expanduser("~/.cache/weft-bench"))

_apt_updated = False


class ToolError(RuntimeError):
    """A tool the run needs cannot be had. Always fatal: the harness never skips silently."""


def _say(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def _run_loud(argv: list[str], what: str) -> None:
    _say(f"{what}: {' '.join(argv)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    res = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if res.returncode != 0:
        tail = "\n".join(res.stdout.splitlines()[-15:])
        raise ToolError(f"{what} failed (exit {res.returncode}):\n{tail}")


def which(tool: str) -> str | None:
    found = shutil.which(tool)
    if found is None and tool == "oha":
        cached = os.path.join(CACHE_DIR, "bin", "oha")
        found = cached if os.access(cached, os.X_OK) else None
    return found


def ensure_apt_tools(tools: set[str]) -> None:
    global _apt_updated
    missing = sorted(t for t in tools if t in APT_TOOLS and which(t) is None)
    if not missing:
        return
    packages = sorted({APT_TOOLS[t] for t in missing})
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise ToolError(
            f"missing {', '.join(missing)}; install the Debian packages {' '.join(packages)} "
            "(needs root and apt-get)"
        )
    if not _apt_updated:
        _run_loud(["apt-get", "update", "-q"], "apt-get update")
        _apt_updated = True
    _run_loud(["apt-get", "install", "-y", "-q", *packages], "installing")
    still = [t for t in missing if which(t) is None]
    if still:
        raise ToolError(f"installed {' '.join(packages)} but still no {', '.join(still)} on PATH")


def ensure_oha() -> str:
    """oha from crates.io, built once into the cache dir (it is a large build: minutes)."""
    found = which("oha")
    if found:
        return found
    if shutil.which("cargo") is None:
        raise ToolError("oha is missing and there is no cargo to build it with")
    _run_loud(["cargo", "info", "oha"], "checking crates.io for oha")
    _run_loud(
        ["nice", "-n", "10", "cargo", "install", "oha", "--locked", "--root", CACHE_DIR],
        "building oha (once, into the cache)",
    )
    found = which("oha")
    if not found:
        raise ToolError(f"cargo install oha finished but {CACHE_DIR}/bin/oha is not there")
    return found


def build_weft(repo: str) -> str:
    # weft-adsload is S10's load client (a benchmark tool, built beside weft).
    argv = ["cargo", "build", "--release", "-p", "weft", "-p", "weft-adsload"]
    _say(f"building weft: {' '.join(argv)} (waits if another build holds the lock)")
    res = subprocess.run(argv, cwd=repo, stderr=subprocess.PIPE, text=True)
    if res.returncode != 0:
        tail = "\n".join(res.stderr.splitlines()[-25:])
        raise ToolError(
            f"{' '.join(argv)} failed:\n{tail}\n"
            "(use --weft-bin PATH or --no-build to bench an existing binary)"
        )
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(repo, "target")
    return os.path.join(target, "release", "weft")


def weft_proxy_caps(weft: str) -> dict:
    """What `weft proxy` offers: whether it exists and which flags it takes."""
    if not os.access(weft, os.X_OK):
        return {"proxy": False, "reason": f"no weft binary at {weft}"}
    res = subprocess.run([weft, "proxy", "--help"], capture_output=True, text=True)
    if res.returncode != 0:
        return {"proxy": False, "reason": "this weft has no `weft proxy` command"}
    text = res.stdout
    return {
        "proxy": "--bootstrap" in text,
        "reason": "" if "--bootstrap" in text else "`weft proxy` has no --bootstrap flag",
        "concurrency": "--concurrency" in text,
        "drain_time": "--drain-time" in text,
    }


def _first_line(argv: list[str]) -> str:
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    out = (res.stdout + res.stderr).strip().splitlines()
    return out[0].strip() if out else "unavailable"


def tool_versions(weft: str) -> dict[str, str]:
    versions = {
        "weft": _first_line([weft, "--version"]),
        "wrk": _first_line(["wrk", "-v"]),
        "h2load": _first_line(["h2load", "--version"]),
        "nginx": _first_line(["nginx", "-v"]),
        "haproxy": _first_line(["haproxy", "-v"]),
        "iperf3": _first_line(["iperf3", "--version"]),
        "openssl": _first_line(["openssl", "version"]),
        "python": platform.python_version(),
        "rustc": _first_line(["rustc", "--version"]),
    }
    if which("oha"):
        versions["oha"] = _first_line([which("oha") or "oha", "--version"])
    return {k: re.sub(r"\s+", " ", v) for k, v in versions.items()}


def machine() -> dict:
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with open("/proc/loadavg", encoding="ascii") as f:
        load = f.read().split()[:3]
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "mem_gb": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1),
        "loadavg_at_start": " ".join(load),
    }


def git_info(repo: str) -> dict:
    def git(*args: str) -> str:
        res = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
        return res.stdout.strip() if res.returncode == 0 else ""

    return {
        "sha": git("rev-parse", "--short", "HEAD") or "nogit",
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }
