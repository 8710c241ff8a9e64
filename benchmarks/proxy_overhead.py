"""What `ojin-local proxy` adds to a request: the same calls direct to an ojin-local and through
a proxy in front of it (which forwards, checks the exchange against the seed spec, and records
HAR when --record is given), measured in the same run, in alternating rounds.

Sequential over one keep-alive connection, so the figure is latency per request, not
throughput. Rerun: `.venv/bin/python benchmarks/proxy_overhead.py [--requests N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx
from servers import Server, Spec

KEY = {"X-API-Key": "ojin-local-dev-key"}
PATHS = ("/v1/model-variants", "/v1/model-configs?source=template&limit=20")


def timings(base: str, path: str, count: int) -> list[float]:
    with httpx.Client(base_url=base, headers=KEY) as client:
        for _ in range(20):  # warm: connection, caches, the validator's first use
            client.get(path)
        found = []
        for _ in range(count):
            started = time.perf_counter()
            answer = client.get(path)
            found.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.text
        return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    python = sys.executable
    serve = Spec(
        "ojin-local", [python, "-m", "ojin_local", "serve", "--port", "{port}", "--ephemeral",
                       "--no-jobs", "--log-level", "warning"], "/_ojin/health", {},
    )  # fmt: skip
    with Server(serve) as upstream:
        for record in (False, True):

            def proxy_spec(record: bool = record) -> Spec:
                argv = [python, "-m", "ojin_local", "proxy", "--upstream", upstream.url("/v1"),
                        "--port", "{port}", "--log-level", "warning"]  # fmt: skip
                if record:
                    argv += ["--record", str(Path("{tmp}") / "bench.har")]
                return Spec("proxy", argv, "/_ojin/drift", {})

            with Server(proxy_spec()) as proxy:
                label = "proxy --record" if record else "proxy"
                print(f"{label} started in {proxy.ready_s:.2f} s")
                for path in PATHS:
                    direct: list[float] = []
                    proxied: list[float] = []
                    for _ in range(args.rounds):
                        direct += timings(upstream.url(""), path, args.requests)
                        proxied += timings(proxy.url(""), path, args.requests)
                    d50, p50 = statistics.median(direct), statistics.median(proxied)
                    d99 = statistics.quantiles(direct, n=100)[98]
                    p99 = statistics.quantiles(proxied, n=100)[98]
                    print(
                        f"  GET {path}: {label} p50 {p50 * 1e3:.2f} ms p99 {p99 * 1e3:.2f} ms; "
                        f"direct p50 {d50 * 1e3:.2f} ms p99 {d99 * 1e3:.2f} ms; "
                        f"overhead p50 {(p50 - d50) * 1e3:.2f} ms ({p50 / d50:.2f}x)"
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
