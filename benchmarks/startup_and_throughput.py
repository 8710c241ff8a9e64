"""Start time and throughput of ojin-local beside a bare Sanic app and a Stoplight Prism mock.

Why: ojin-local claims to start about as fast as Sanic itself and to serve far faster than the
generic OpenAPI mock people would otherwise use. This script measures all three in one run on
the same machine (figures only mean something next to a reference measured alongside them) and
prints PASS/MISS per target. It is a script, not a test: the machine is noisy, so read ratios.

    .venv/bin/python benchmarks/startup_and_throughput.py [--runs 7] [--duration 10]
                                                          [--skip-prism]

Needs `wrk` (apt-get install wrk) and, unless --skip-prism, Node + npm: Prism is installed on
first use into benchmarks/.cache/prism.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from servers import Server, Spec

HERE = Path(__file__).resolve().parent
DEFAULT_SPEC = HERE.parent.parent / "shared" / "openapi" / "ojin-rest-v1.json"
PRISM_DIR = HERE / ".cache" / "prism"
PRISM_BIN = PRISM_DIR / "node_modules" / ".bin" / "prism"
KEY = "ojin-local-dev-key"
OJIN_HEADERS = {"X-API-Key": KEY}
PRISM_HEADERS = {"X-API-Key": "bench"}  # Prism only checks that a key is present
CONNECTIONS, THREADS = 32, 2

TARGET_START_RATIO = 1.3  # ojin-local ready within 1.3x the bare Sanic start
TARGET_VARIANTS_RATIO = 5.0  # GET /v1/model-variants req/s vs Prism
TARGET_CONFIGS_RATIO = 4.0  # GET /v1/model-configs?limit=20 req/s vs Prism
TARGET_CONFIGS_P99_MS = 50.0


@dataclass
class Load:
    """One wrk result."""

    rps: float
    p99_ms: float
    problems: str  # non-2xx answers or socket errors; empty when clean


def to_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, headers: dict[str, str], seconds: int, warmup: int) -> Load:
    """A warm-up run (discarded), then the measured run with the latency distribution."""
    head = [arg for k, v in headers.items() for arg in ("-H", f"{k}: {v}")]
    base = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", *head]
    if warmup:
        subprocess.run([*base, f"-d{warmup}s", url], capture_output=True, check=True)
    out = subprocess.run(
        [*base, f"-d{seconds}s", "--latency", url],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    problems = [m.group(0).strip() for m in re.finditer(r"(Non-2xx.*|Socket errors.*)", out)]
    return Load(rps, p99, "; ".join(problems))


def seed_model_configs(port: int, count: int, workers: int = 4) -> float:
    """Create `count` configurations through the real API, as a client would; seconds taken."""

    def post_share(indices: range) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for i in indices:
                body = {
                    "title": f"bench-{i}",
                    "model_variant_id": "ojin/oris-1.0/standard",
                    "model_configurations": {"fps": 25},
                }
                headers = {**OJIN_HEADERS, "Content-Type": "application/json"}
                conn.request("POST", "/v1/model-configs", json.dumps(body), headers)
                resp = conn.getresponse()
                answer = resp.read()
                if resp.status != 201:
                    raise RuntimeError(f"POST /v1/model-configs: {resp.status} {answer[:300]!r}")
        finally:
            conn.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(post_share, [range(w, count, workers) for w in range(workers)]))
    return time.perf_counter() - started


def ensure_prism() -> str:
    """Install Prism 5.x into benchmarks/.cache/prism on first use; return its version."""
    if not PRISM_BIN.exists():
        if not shutil.which("npm"):
            sys.exit("npm not found: install Node.js 20 + npm, or pass --skip-prism")
        print(f"installing @stoplight/prism-cli@5 into {PRISM_DIR} ...", flush=True)
        PRISM_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(PRISM_DIR),
             "@stoplight/prism-cli@5"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return subprocess.run([str(PRISM_BIN), "--version"], capture_output=True, text=True).stdout


def tool_version(argv: list[str], pattern: str) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True)
    except OSError:
        return "?"
    match = re.search(pattern, out.stdout + out.stderr)
    return match.group(1) if match else "?"


def measure_startups(contenders: list[Spec], runs: int) -> dict[str, list[float]]:
    """Start to first 200, launch order rotated each round so machine drift hits all alike."""
    starts: dict[str, list[float]] = {s.name: [] for s in contenders}
    for i in range(runs):
        k = i % len(contenders)
        for spec in contenders[k:] + contenders[:k]:
            with Server(spec) as server:
                starts[spec.name].append(server.ready_s)
        print(f"  start-up round {i + 1}/{runs} done", file=sys.stderr, flush=True)
    return starts


def measure_loads(
    bare: Spec, ojin: Spec, prisms: list[Spec], configs: int, seconds: int, warmup: int
) -> dict[str, Load]:
    """wrk against each server in turn; only one server runs at a time (2-core machine)."""
    loads: dict[str, Load] = {}
    with Server(bare) as server:
        loads["bare Sanic GET / (ceiling)"] = run_wrk(server.url("/"), {}, seconds, warmup)
    with Server(ojin) as server:
        url = server.url("/v1/model-variants")
        loads[VARIANTS] = run_wrk(url, OJIN_HEADERS, seconds, warmup)
        took = seed_model_configs(server.port, configs)
        print(f"  seeded {configs} configurations in {took:.1f} s", file=sys.stderr)
        url = server.url("/v1/model-configs?limit=20")
        loads[CONFIGS] = run_wrk(url, OJIN_HEADERS, seconds, warmup)
    for spec in prisms:
        with Server(spec) as server:
            for path in ("/model-variants", "/model-configs?limit=20"):
                url = server.url(path)
                loads[f"{spec.name} GET {path}"] = run_wrk(url, PRISM_HEADERS, seconds, warmup)
        print(f"  {spec.name} measured", file=sys.stderr, flush=True)
    return loads


VARIANTS = "ojin-local GET /v1/model-variants"
CONFIGS = "ojin-local GET /v1/model-configs?limit=20"
PRISM_VARIANTS = "Prism GET /model-variants"
PRISM_CONFIGS = "Prism GET /model-configs?limit=20"


def report(starts: dict[str, list[float]], loads: dict[str, Load], runs: int) -> bool:
    """Print the three tables; True when no target was missed."""
    print(f"1. Start to first 200 ({runs} runs){'':<21}median       min")
    for name, label in (
        ("bare Sanic", "bare Sanic (Click, single process)"),
        ("ojin-local", "ojin-local serve (fresh data dir)"),
        ("Prism", "Prism mock (default logging)"),
    ):
        if name in starts:
            times = starts[name]
            print(f"   {label:<40} {statistics.median(times):6.3f} s  {min(times):6.3f} s")
    print(f"\n2. Throughput, {CONNECTIONS} connections{'':<28}req/s         p99")
    for name, load in loads.items():
        flag = f"   ! {load.problems}" if load.problems else ""
        print(f"   {name:<48} {load.rps:8,.0f}  {load.p99_ms:7.2f} ms{flag}")

    start_ojin = statistics.median(starts["ojin-local"])
    start_bare = statistics.median(starts["bare Sanic"])
    rows = [
        Row("start, median vs bare Sanic", f"{start_ojin:.3f} s", f"{start_bare:.3f} s",
            start_ojin / start_bare, f"<= {TARGET_START_RATIO}x",
            start_ojin / start_bare <= TARGET_START_RATIO),
        rps_row("model-variants req/s vs Prism", loads, VARIANTS, PRISM_VARIANTS,
                TARGET_VARIANTS_RATIO),
        rps_row("model-configs req/s vs Prism", loads, CONFIGS, PRISM_CONFIGS,
                TARGET_CONFIGS_RATIO),
        Row("model-configs p99", f"{loads[CONFIGS].p99_ms:.2f} ms", "-", None,
            f"< {TARGET_CONFIGS_P99_MS:g} ms", loads[CONFIGS].p99_ms < TARGET_CONFIGS_P99_MS),
    ]  # fmt: skip
    print(f"\n3. Targets{'':<24}{'ojin-local':>14}{'reference':>14}{'ratio':>8}  target     result")
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
        result = "n/a" if row.ok is None else ("PASS" if row.ok else "MISS")
        print(f"   {row.label:<30}{row.ours:>14}{row.ref:>14}{ratio:>8}  {row.target:<10} {result}")
    if any(load.problems for load in loads.values()):
        print("\n   ! marks runs with errors: their figures are not trustworthy")
    return all(row.ok is not False for row in rows)


@dataclass
class Row:
    """One target: our figure, the reference measured in the same run, and the verdict."""

    label: str
    ours: str
    ref: str
    ratio: float | None
    target: str
    ok: bool | None  # None: reference skipped


def rps_row(label: str, loads: dict[str, Load], ours: str, ref: str, target: float) -> Row:
    mine = f"{loads[ours].rps:,.0f} req/s"
    if ref not in loads:
        return Row(label, mine, "skipped", None, f">= {target:g}x", None)
    r = loads[ours].rps / loads[ref].rps
    return Row(label, mine, f"{loads[ref].rps:,.0f} req/s", r, f">= {target:g}x", r >= target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="start-up runs per server (7)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (10)")
    parser.add_argument("--warmup", type=int, default=2, help="wrk warm-up seconds (2)")
    parser.add_argument("--configs", type=int, default=1000, help="configurations to seed")
    parser.add_argument("--skip-prism", action="store_true", help="no Prism, no Prism targets")
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="spec Prism mocks")
    args = parser.parse_args()

    if not shutil.which("wrk"):
        sys.exit("wrk not found: install it with `apt-get install wrk` (Debian package wrk)")
    ojin_bin = Path(sys.executable).with_name("ojin-local")
    if not ojin_bin.exists():
        sys.exit(f"{ojin_bin} not found: run this with the project's venv (make bench)")
    prism_version = "skipped"
    if not args.skip_prism:
        if not args.spec.exists():
            sys.exit(f"spec not found: {args.spec} (pass --spec or --skip-prism)")
        prism_version = ensure_prism().strip()

    ojin_argv = [str(ojin_bin), "serve", "--port", "{port}", "--data-dir", "{tmp}/data"]
    ojin = Spec("ojin-local", ojin_argv, "/_ojin/health", {})
    bare_argv = [sys.executable, str(HERE / "bare_sanic_app.py"), "--port", "{port}"]
    bare = Spec("bare Sanic", bare_argv, "/", {})
    prism_argv = [str(PRISM_BIN), "mock", "-p", "{port}", str(args.spec)]
    prism = Spec("Prism", prism_argv, "/model-variants", PRISM_HEADERS)
    silent_argv = [*prism_argv, "-v", "silent"]
    prism_silent = Spec("Prism -v silent", silent_argv, "/model-variants", PRISM_HEADERS)

    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    wrk_version = tool_version(["wrk", "-v"], r"wrk (?:\S*/)?([\d.]+)")
    node_version = tool_version(["node", "--version"], r"v([\d.]+)")
    print(f"ojin-local start-up and throughput benchmark, {now}")
    print(
        f"Python {platform.python_version()}, Sanic {version('sanic')}, "
        f"ojin-local {version('ojin-local')}, wrk {wrk_version}, Node {node_version}, "
        f"Prism {prism_version}"
    )
    print(
        f"{os.cpu_count()} CPUs; servers run one at a time; wrk -t{THREADS} -c{CONNECTIONS}, "
        f"{args.duration} s after a {args.warmup} s warm-up\n",
        flush=True,
    )

    contenders = [bare, ojin] if args.skip_prism else [bare, ojin, prism]
    starts = measure_startups(contenders, args.runs)
    prisms = [] if args.skip_prism else [prism, prism_silent]
    loads = measure_loads(bare, ojin, prisms, args.configs, args.duration, args.warmup)
    return 0 if report(starts, loads, args.runs) else 1


if __name__ == "__main__":
    sys.exit(main())
