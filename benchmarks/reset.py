"""How long POST /_ojin/reset takes with a few hundred records, beside starting a fresh server
(what a test suite would pay per test without reset).

Each round creates `--configs` model configurations and `--assets` small assets (a multipart
upload each), then times the reset; the reference is the time from launching a new
`ojin-local serve` on an empty data dir to its first 200. Target: reset under 20 ms.

Rerun: `make bench-reset` (or `.venv/bin/python benchmarks/reset.py`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from servers import Server, Spec

KEY = {"X-API-Key": "ojin-local-dev-key"}
TARGET_MS = 20.0


def populate(base: str, configs: int, assets: int, round_: int, key: dict = KEY) -> None:
    def make_config(i: int) -> None:
        with httpx.Client(base_url=base, headers=key) as client:
            body = {
                "title": f"bench-{round_}-{i}",
                "model_variant_id": "ojin/oris-1.0/standard",
                "model_configurations": {},
            }
            client.post("/v1/model-configs", json=body).raise_for_status()

    def make_asset(i: int) -> None:
        with httpx.Client(base_url=base, headers=key) as client:
            session = client.post(
                "/v1/assets/initiate-upload", json={"name": f"a{i}.bin", "category": "weight"}
            ).json()
            ids = {"asset_id": session["asset_id"], "upload_id": session["upload_id"]}
            url = client.post("/v1/assets/sign-part", json={**ids, "part_number": 1}).json()
            etag = httpx.put(url["upload_url"], content=b"x" * 1000).headers["etag"]
            body = {
                **ids, "name": f"a{i}.bin", "category": "weight",
                "content_type": "application/octet-stream", "size_bytes": 1000,
                "parts": [{"part_number": 1, "etag": etag}],
            }  # fmt: skip
            client.post("/v1/assets", json=body).raise_for_status()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(make_config, range(configs)))
        list(pool.map(make_asset, range(assets)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=300)
    parser.add_argument("--assets", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    ojin_bin = Path(sys.executable).with_name("ojin-local")
    spec = Spec(
        "ojin-local",
        [str(ojin_bin), "serve", "--port", "{port}", "--data-dir", "{tmp}", "--log-level",
         "warning"],
        "/_ojin/health",
        {},
    )  # fmt: skip
    resets = []
    with Server(spec) as server, httpx.Client(base_url=server.url(""), headers=KEY) as client:
        for round_ in range(args.rounds):
            populate(server.url(""), args.configs, args.assets, round_)
            started = time.perf_counter()
            client.post("/_ojin/reset").raise_for_status()
            resets.append((time.perf_counter() - started) * 1000)
    starts = []
    for _ in range(args.rounds):
        with Server(spec) as fresh:
            starts.append(fresh.ready_s * 1000)
    reset_ms, start_ms = statistics.median(resets), statistics.median(starts)
    print(
        f"reset with {args.configs} configurations and {args.assets} assets, median of "
        f"{args.rounds}: {reset_ms:.1f} ms (range {min(resets):.1f}-{max(resets):.1f}); "
        f"target < {TARGET_MS:.0f} ms: {'PASS' if reset_ms < TARGET_MS else 'MISS'}"
    )
    print(
        f"reference, a fresh server to its first 200: {start_ms:.0f} ms "
        f"({start_ms / reset_ms:.0f}x the reset)"
    )
    return 0 if reset_ms < TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
