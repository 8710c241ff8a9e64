"""Start time and throughput of ojin-local beside a bare Sanic app and a Stoplight Prism mock.

Why: ojin-local claims to start about as fast as Sanic itself and to serve near Sanic's own
ceiling, with authentication, fault matching, the journal and the access log on every request.
The reference is a bare Sanic app answering the very bytes of ojin-local's GET
/v1/model-variants page; Prism (`-v silent`), the generic OpenAPI mock people would otherwise
use, is measured beside them for the record. Everything is measured in one run on the same
machine (figures only mean something next to a reference measured alongside them) and each
target prints PASS/MISS. It is a script, not a test: the machine is noisy, so read ratios.

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
import tempfile
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

TARGET_RESTART_RATIO = 1.3  # start on an existing data dir vs the bare app's start
TARGET_FIRST_START_RATIO = 1.6  # first start on an empty data dir (seeding included)
TARGET_VARIANTS_RATIO = 0.6  # GET /v1/model-variants req/s vs the bare app, same bytes
TARGET_CONFIGS_RATIO = 0.45  # GET /v1/model-configs?limit=20 (1,000 rows) vs the same ceiling
TARGET_CONFIGS_P99_MS = 20.0
TARGET_P50_RATIO = 2.0  # one connection, sequential requests: p50 vs the bare app's


@dataclass
class Load:
    """One wrk result."""

    rps: float
    p50_ms: float
    p99_ms: float
    problems: str  # non-2xx answers or socket errors; empty when clean


def to_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(
    url: str, headers: dict[str, str], seconds: int, warmup: int, connections: int = CONNECTIONS
) -> Load:
    """A warm-up run (discarded), then the measured run with the latency distribution."""
    head = [arg for k, v in headers.items() for arg in ("-H", f"{k}: {v}")]
    threads = min(THREADS, connections)
    base = ["wrk", f"-t{threads}", f"-c{connections}", *head]
    if warmup:
        subprocess.run([*base, f"-d{warmup}s", url], capture_output=True, check=True)
    out = subprocess.run(
        [*base, f"-d{seconds}s", "--latency", url],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    problems = [m.group(0).strip() for m in re.finditer(r"(Non-2xx.*|Socket errors.*)", out)]
    return Load(rps, p50, p99, "; ".join(problems))


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
    """Start to first 200, launch order rotated each round so machine drift hits all alike.
    A first round, not counted, leaves each server's bytecode cached, as on any machine where
    it has run before (PYTHONDONTWRITEBYTECODE is dropped for the servers)."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    for spec in contenders:
        with Server(spec):
            pass
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
        loads[BARE] = run_wrk(server.url("/body"), {}, seconds, warmup)
        loads[BARE_ONE] = run_wrk(server.url("/body"), {}, seconds, warmup, connections=1)
    with Server(ojin) as server:
        url = server.url("/v1/model-variants")
        loads[VARIANTS] = run_wrk(url, OJIN_HEADERS, seconds, warmup)
        loads[VARIANTS_ONE] = run_wrk(url, OJIN_HEADERS, seconds, warmup, connections=1)
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


def variants_page(ojin: Spec, target: Path) -> None:
    """The bytes ojin-local answers GET /v1/model-variants with, for the bare app to serve."""
    with Server(ojin) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/v1/model-variants", headers=OJIN_HEADERS)
        target.write_bytes(conn.getresponse().read())
        conn.close()


BARE = "bare Sanic GET /body (same bytes)"
BARE_ONE = "bare Sanic GET /body, 1 connection"
VARIANTS = "ojin-local GET /v1/model-variants"
VARIANTS_ONE = "ojin-local GET /v1/model-variants, 1 connection"
CONFIGS = "ojin-local GET /v1/model-configs?limit=20"
FIRST_START = "ojin-local (empty data dir)"
RESTART = "ojin-local (existing data dir)"


def report(starts: dict[str, list[float]], loads: dict[str, Load], runs: int) -> bool:
    """Print the three tables; True when no target was missed."""
    print(f"1. Start to first 200 ({runs} runs){'':<21}median       min")
    for name in starts:
        times = starts[name]
        print(f"   {name:<40} {statistics.median(times):6.3f} s  {min(times):6.3f} s")
    print(f"\n2. Throughput{'':<42}req/s      p50       p99")
    for name, load in loads.items():
        flag = f"   ! {load.problems}" if load.problems else ""
        print(f"   {name:<48} {load.rps:8,.0f} {load.p50_ms:7.2f} ms {load.p99_ms:7.2f} ms{flag}")

    bare_start = statistics.median(starts["bare Sanic"])
    rows = [
        start_row("restart vs bare Sanic start", starts, RESTART, bare_start, TARGET_RESTART_RATIO),
        start_row("first start vs bare start", starts, FIRST_START, bare_start,
                  TARGET_FIRST_START_RATIO),
        rps_row("model-variants vs bare", loads, VARIANTS, BARE, TARGET_VARIANTS_RATIO),
        rps_row("model-configs vs bare", loads, CONFIGS, BARE, TARGET_CONFIGS_RATIO),
        Row("model-configs p99", f"{loads[CONFIGS].p99_ms:.2f} ms", "-", None,
            f"< {TARGET_CONFIGS_P99_MS:g} ms", loads[CONFIGS].p99_ms < TARGET_CONFIGS_P99_MS),
        p50_row("1 connection p50 vs bare", loads, VARIANTS_ONE, BARE_ONE, TARGET_P50_RATIO),
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
    r = loads[ours].rps / loads[ref].rps
    return Row(
        label, f"{loads[ours].rps:,.0f}/s", f"{loads[ref].rps:,.0f}/s", r, f">= {target:g}x",
        r >= target,
    )  # fmt: skip


def p50_row(label: str, loads: dict[str, Load], ours: str, ref: str, target: float) -> Row:
    r = loads[ours].p50_ms / loads[ref].p50_ms
    return Row(
        label, f"{loads[ours].p50_ms * 1000:.0f} us", f"{loads[ref].p50_ms * 1000:.0f} us", r,
        f"<= {target:g}x", r <= target,
    )  # fmt: skip


def start_row(
    label: str, starts: dict[str, list[float]], ours: str, reference: float, target: float
) -> Row:
    mine = statistics.median(starts[ours])
    return Row(
        label, f"{mine:.3f} s", f"{reference:.3f} s", mine / reference, f"<= {target:g}x",
        mine / reference <= target,
    )  # fmt: skip


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

    work = Path(tempfile.mkdtemp(prefix="ojin-bench-start-"))
    ojin_argv = [str(ojin_bin), "serve", "--port", "{port}", "--data-dir"]
    first_start = Spec(FIRST_START, [*ojin_argv, "{tmp}/data"], "/_ojin/health", {})
    restart = Spec(RESTART, [*ojin_argv, str(work / "data")], "/_ojin/health", {})
    variants_page(restart, work / "variants.json")  # also makes the data dir restarts reuse
    bare_argv = [sys.executable, str(HERE / "bare_sanic_app.py"), "--port", "{port}"]
    bare = Spec("bare Sanic", [*bare_argv, "--body", str(work / "variants.json")], "/", {})
    prism_argv = [str(PRISM_BIN), "mock", "-p", "{port}", str(args.spec), "-v", "silent"]
    prism = Spec("Prism -v silent", prism_argv, "/model-variants", PRISM_HEADERS)

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

    try:
        contenders = [bare, first_start, restart] + ([] if args.skip_prism else [prism])
        starts = measure_startups(contenders, args.runs)
        prisms = [] if args.skip_prism else [prism]
        loads = measure_loads(bare, first_start, prisms, args.configs, args.duration, args.warmup)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if report(starts, loads, args.runs) else 1


if __name__ == "__main__":
    sys.exit(main())
