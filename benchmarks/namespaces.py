"""How long resetting one namespace takes (POST /_ojin/namespaces/{id}/reset) with a few dozen
records in it, beside the floor of any admin request (GET /_ojin/clock) and a whole-server reset
(POST /_ojin/reset) holding the same records, all measured on one server in this run.

Each round fills a namespace's two organizations with `--configs` model configurations,
`--assets` small assets (a multipart upload each), `--sessions` open upload sessions with a part
each and `--jobs` idle-video jobs held back on the schedule, then times the reset. Target:
under 5 ms median.

Rerun: `make bench-namespaces` (or `.venv/bin/python benchmarks/namespaces.py`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from reset import KEY, populate
from servers import Server, Spec

TARGET_MS = 5.0
DELAYED = "[jobs]\nidle_video_delay_seconds = 3600\n"


def fill(base: str, namespace: dict, args: argparse.Namespace, round_: int) -> None:
    for key in (namespace["api_key"], namespace["other_api_key"]):
        headers = {"X-API-Key": key}
        populate(base, args.configs // 2, args.assets // 2, round_, headers)
        with httpx.Client(base_url=base, headers=headers) as client:
            image = client.get("/v1/assets", params={"source": "template", "category": "image"})
            source = image.json()["data"][0]["asset_id"]
            for _ in range(args.jobs // 2):
                client.post(
                    "/v1/assets/generate/ojin/oris-1.0-idle-video-generator",
                    json={"source_asset_id": source},
                ).raise_for_status()
            for i in range(args.sessions // 2):
                session = client.post(
                    "/v1/assets/initiate-upload",
                    json={"name": f"open{i}.bin", "category": "weight"},
                ).json()
                ids = {"asset_id": session["asset_id"], "upload_id": session["upload_id"]}
                url = client.post("/v1/assets/sign-part", json={**ids, "part_number": 1}).json()
                httpx.put(url["upload_url"], content=b"y" * 1000).raise_for_status()


def timed(client: httpx.Client, method: str, path: str) -> float:
    started = time.perf_counter()
    client.request(method, path).raise_for_status()
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=20)
    parser.add_argument("--assets", type=int, default=10)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    records = args.configs + args.assets + args.sessions + args.jobs
    ojin_bin = Path(sys.executable).with_name("ojin-local")
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch, "config.toml")
        config.write_text(DELAYED)
        spec = Spec(
            "ojin-local",
            [str(ojin_bin), "serve", "--port", "{port}", "--data-dir", "{tmp}", "--log-level",
             "warning", "--config", str(config)],
            "/_ojin/health",
            {},
        )  # fmt: skip
        resets, floors, whole = [], [], []
        with Server(spec) as server, httpx.Client(base_url=server.url(""), headers=KEY) as admin:
            base = server.url("")
            for round_ in range(args.rounds):
                namespace = admin.post("/_ojin/namespaces").json()
                fill(base, namespace, args, round_)
                time.sleep(0.2)  # the parts of finalized uploads are unlinked on a thread
                for _ in range(3):  # the admin's connection warm again, as in a test's teardown
                    timed(admin, "GET", "/_ojin/clock")
                floors.append(timed(admin, "GET", "/_ojin/clock"))
                resets.append(
                    timed(admin, "POST", f"/_ojin/namespaces/{namespace['namespace_id']}/reset")
                )
                fill(base, namespace, args, round_ + args.rounds)
                whole.append(timed(admin, "POST", "/_ojin/reset"))
    reset_ms = statistics.median(resets)
    print(
        f"namespace reset with {records} records ({args.configs} configurations, {args.assets} "
        f"assets, {args.sessions} open sessions, {args.jobs} scheduled jobs), median of "
        f"{args.rounds}: {reset_ms:.2f} ms (p90 {statistics.quantiles(resets, n=10)[-1]:.2f}); "
        f"target < {TARGET_MS:.0f} ms: {'PASS' if reset_ms < TARGET_MS else 'MISS'}"
    )
    print(
        f"reference, an admin request that does nothing (GET /_ojin/clock): "
        f"{statistics.median(floors):.2f} ms"
    )
    print(
        f"reference, the whole-server reset with the same records: "
        f"{statistics.median(whole):.2f} ms"
    )
    return 0 if reset_ms < TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
