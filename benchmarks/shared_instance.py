"""One ojin-local shared by a team or a CI fleet: what moving from SQLite to Postgres, and from one
API process to two, buys and costs. Three setups, measured one after another in one run:

  1. `ojin-local serve` on SQLite (the default), one process;
  2. on Postgres, one API process;
  3. on Postgres, two API processes (`serve --processes 2`).

Setups 2 and 3 use a Redis queue, as processes sharing one instance must (no jobs run: every
server starts with --no-jobs). Each setup gets a fresh data dir (and Postgres database) holding
--configs configurations, then wrk loads (a) GET /v1/model-configs?limit=20 and (b) POST
/v1/model-configs, one new configuration per request. Beside req/s and latency: the CPU the
server's process tree and Postgres used during the measured run, as a share of all cores.

Rerun: `make bench-shared` (or `.venv/bin/python benchmarks/shared_instance.py [--duration 10]
[--connections 32]`). Needs wrk, Postgres 15 and redis-server from Debian.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from servers import Server, Spec
from startup_and_throughput import OJIN_HEADERS, seed_model_configs, to_ms, tool_version

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' throw-away servers
from tests.postgres_server import PostgresServer
from tests.redis_server import RedisServer

THREADS = 2
HEALTH = "/_ojin/health"
LIST = "GET /v1/model-configs?limit=20"
CREATE = "POST /v1/model-configs"
CORES = len(os.sched_getaffinity(0))  # what `nproc` prints
TICK = os.sysconf("SC_CLK_TCK")

# Titles are unique per organization: each carries the wrk run's tag (its first argument after
# `--`), the wrk thread's number and that thread's request counter. The -H key header stays in
# wrk.headers because wrk.format is given no headers of its own.
CREATE_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

function init(args)
  tag = args[1]
  counter = 0
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"title":"bench-%s-%d-%d","model_variant_id":"ojin/oris-1.0/standard",'
    .. '"model_configurations":{"fps":25}}', tag, id, counter)
  return wrk.format(nil, nil, nil, body)
end
"""


@dataclass
class Result:
    """One measured wrk run and the CPU spent meanwhile."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers plus socket errors
    wall_s: float
    server_cpu_s: float
    postgres_cpu_s: float | None  # None: the setup has no Postgres
    wrk_cpu_s: float  # the load generator shares the cores: whether they were all busy
    other_cpu_s: float  # the rest of the machine's busy time: noise when far from 0


@dataclass
class Setup:
    """One way to run the shared instance."""

    name: str
    processes: int
    postgres: bool


SETUPS = [
    Setup("SQLite, 1 process", 1, postgres=False),
    Setup("Postgres, 1 process", 1, postgres=True),
    Setup("Postgres, 2 processes", 2, postgres=True),
]


def cpu_seconds(pids: set[int]) -> float:
    """utime+stime of these processes, plus that of their children already reaped (cutime,
    cstime), so a process that exits during a run still counts."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += sum(int(f) for f in fields[11:15])  # stat fields 14-17
    return ticks / TICK


def children_cpu_seconds() -> float:
    """CPU of this script's reaped children: during a measured run, that is wrk alone (the
    servers are reaped only when stopped)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def busy_cpu_seconds() -> float:
    """The whole machine's non-idle CPU time, steal included (/proc/stat less idle, iowait)."""
    ticks = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / TICK  # guest time is already in user


def parents() -> dict[int, int]:
    """Every live process's parent pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                stat = (entry / "stat").read_text()
                found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def tree(root: int) -> set[int]:
    """The process and all its descendants."""
    parent_of = parents()
    members = {root}
    while grown := {pid for pid, ppid in parent_of.items() if ppid in members} - members:
        members |= grown
    return members


def postmaster_pid(postgres: PostgresServer) -> int:
    return int((postgres.data / "postmaster.pid").read_text().split()[0])


def postgres_processes(postgres: PostgresServer) -> set[int]:
    """The postmaster and its children (every backend, autovacuum, the WAL writer...)."""
    root = postmaster_pid(postgres)
    return {root} | {pid for pid, ppid in parents().items() if ppid == root}


def run_wrk(
    url: str, seconds: int, connections: int, script: Path | None, tag: str
) -> tuple[float, float, float, int]:
    """req/s, p50 ms, p99 ms and the error count of one wrk run."""
    head = [arg for k, v in OJIN_HEADERS.items() for arg in ("-H", f"{k}: {v}")]
    argv = ["wrk", f"-t{min(THREADS, connections)}", f"-c{connections}", f"-d{seconds}s", *head]
    argv += ["--latency", *(["-s", str(script)] if script else []), url, "--", tag]
    out = subprocess.run(
        argv, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", out))
    for line in re.findall(r"Socket errors:(.*)", out):
        errors += sum(int(n) for n in re.findall(r"\d+", line))
    return rps, p50, p99, errors


def measure(
    server: Server,
    postgres: PostgresServer | None,
    path: str,
    script: Path | None,
    args: argparse.Namespace,
) -> Result:
    """A warm-up run (discarded), then the measured run with CPU read before and after."""
    url = server.url(path)
    if args.warmup:
        run_wrk(url, args.warmup, args.connections, script, f"w{uuid.uuid4().hex[:6]}")
    assert server.proc is not None
    server_pids = tree(server.proc.pid)
    postgres_pids = postgres_processes(postgres) if postgres else set()
    server_before, postgres_before = cpu_seconds(server_pids), cpu_seconds(postgres_pids)
    wrk_before, busy_before = children_cpu_seconds(), busy_cpu_seconds()
    started = time.perf_counter()
    rps, p50, p99, errors = run_wrk(
        url, args.duration, args.connections, script, f"m{uuid.uuid4().hex[:6]}"
    )
    wall = time.perf_counter() - started
    wrk_cpu, busy = children_cpu_seconds() - wrk_before, busy_cpu_seconds() - busy_before
    # Read again over the processes alive now: a backend or worker started during the run counts
    # from its start (it had none before), one that ended counts in its parent's cutime.
    server_cpu = cpu_seconds(tree(server.proc.pid) | server_pids) - server_before
    postgres_cpu = None
    if postgres:
        postgres_cpu = cpu_seconds(postgres_processes(postgres) | postgres_pids) - postgres_before
    other = busy - server_cpu - (postgres_cpu or 0.0) - wrk_cpu
    return Result(rps, p50, p99, errors, wall, server_cpu, postgres_cpu, wrk_cpu, other)


@contextlib.contextmanager
def environment(extra: dict[str, str]) -> Iterator[None]:
    """os.environ without the caller's OJIN_LOCAL_* settings, plus `extra`, for the servers
    started inside (Server passes its own environment on); restored afterwards."""
    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith("OJIN_LOCAL_")]:
        del os.environ[name]
    os.environ.update(extra)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_setup(
    setup: Setup,
    postgres: PostgresServer,
    redis: RedisServer,
    script: Path,
    args: argparse.Namespace,
) -> dict[str, Result]:
    argv = [str(Path(sys.executable).with_name("ojin-local")), "serve", "--no-jobs"]
    argv += ["--port", "{port}", "--data-dir", "{tmp}/data"]
    if setup.processes > 1:
        argv += ["--processes", str(setup.processes)]
    extra = {}
    if setup.postgres:
        extra = {
            "OJIN_LOCAL_DATABASE_URL": postgres.create_database(),
            "OJIN_LOCAL_JOBS_QUEUE": "redis",
            "OJIN_LOCAL_JOBS_REDIS_URL": redis.database_url(),
        }
    spec = Spec(setup.name, argv, HEALTH, OJIN_HEADERS)
    with environment(extra), Server(spec) as server:
        took = seed_model_configs(server.port, args.configs)
        print(f"  {setup.name}: seeded {args.configs} configurations in {took:.1f} s", flush=True)
        in_use = postgres if setup.postgres else None
        return {
            LIST: measure(server, in_use, "/v1/model-configs?limit=20", None, args),
            CREATE: measure(server, in_use, "/v1/model-configs", script, args),
        }


def share(cpu_s: float | None, wall_s: float) -> str:
    """CPU seconds and the share of all cores they are over the run."""
    if cpu_s is None:
        return f"{'-':>11}"
    return f"{cpu_s:4.1f} s {cpu_s / (wall_s * CORES):4.0%}"


def report(results: dict[str, dict[str, Result] | str]) -> bool:
    """The table; True when every setup ran and no request failed."""
    print(f"\n{'':<93}CPU during the run: seconds, share of {CORES} cores")
    print(
        f"{'setup':<23} {'route':<32} {'req/s':>7} {'p50':>9} {'p99':>9} {'errors':>6}"
        f"  {'server':>11}  {'Postgres':>11}  {'wrk':>11}  {'other':>11}"
    )
    clean = True
    for name, outcome in results.items():
        if isinstance(outcome, str):
            print(f"{name:<23} did not run: {outcome}")
            clean = False
            continue
        for route, r in outcome.items():
            flag = "  !" if r.errors else ""
            clean = clean and not r.errors
            print(
                f"{name:<23} {route:<32} {r.rps:7,.0f} {r.p50_ms:6.2f} ms {r.p99_ms:6.2f} ms "
                f"{r.errors:6}  {share(r.server_cpu_s, r.wall_s)}  "
                f"{share(r.postgres_cpu_s, r.wall_s)}  {share(r.wrk_cpu_s, r.wall_s)}"
                f"  {share(r.other_cpu_s, r.wall_s)}{flag}"
            )
    print(
        f"\nCPU: seconds used during the measured run, and that as a share of {CORES} cores; the"
        " server's is its whole process tree, Postgres's the postmaster and its children, other"
        " the machine's remaining busy time (other processes, interrupts, time a hypervisor"
        " stole): far from 0, the figures are noisy."
    )
    if not clean:
        print("! a setup did not run or requests failed: those figures are missing or not to trust")
    return clean


def failure(error: Exception) -> str:
    """What failed and its last word: a server that exits ends the message with its log, whose
    last line names the error (a traceback's exception, or Click's "No such option")."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(dict.fromkeys(lines[:1] + lines[-1:]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--warmup", type=int, default=2, help="wrk warm-up seconds (2)")
    parser.add_argument("--configs", type=int, default=1000, help="configurations to seed (1000)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: install it with `apt-get install wrk` (Debian package wrk)")

    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    wrk_version = tool_version(["wrk", "-v"], r"wrk (?:\S*/)?([\d.]+)")
    print(f"ojin-local shared-instance benchmark, {now}; rerun: make bench-shared")
    print(
        "Measures req/s, p50/p99 latency, failed requests and CPU (server process tree, Postgres)"
        f" of {LIST} and {CREATE}\non SQLite (1 process) and Postgres (1 and 2 processes, Redis "
        f"queue). nproc {CORES}; wrk {wrk_version} -t{min(THREADS, args.connections)} "
        f"-c{args.connections}, {args.duration} s after a {args.warmup} s warm-up; "
        f"{args.configs} configurations seeded per setup.\n",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="ojin-bench-shared-"))
    script = work / "create.lua"
    script.write_text(CREATE_SCRIPT)
    postgres, redis = PostgresServer(), RedisServer()
    results: dict[str, dict[str, Result] | str] = {}
    try:
        postgres.start()
        redis.start()
        for setup in SETUPS:
            try:
                results[setup.name] = run_setup(setup, postgres, redis, script, args)
            except (RuntimeError, subprocess.CalledProcessError) as error:
                results[setup.name] = failure(error)
                print(f"  {setup.name}: did not run: {results[setup.name]}", flush=True)
    finally:
        redis.stop()
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0 if report(results) else 1


if __name__ == "__main__":
    sys.exit(main())
