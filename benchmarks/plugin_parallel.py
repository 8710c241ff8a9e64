"""A 40-test suite using the `ojin_local` fixture: wall time serially and under pytest-xdist
(`-n 2`), each test in a namespace of its own on one shared server, beside the reset-per-test
plugin (`--ojin-isolation reset`, the plugin as it was: one server per process, reset before
each test), all measured in this run. Each test makes a configuration, uploads a small asset,
lists both and reads one back, as a user's integration test would; `--wait-ms` adds a wait to
each (the user's own code waiting on something), where running two at once pays. The floor is
pytest itself on 40 empty tests, serially and with `-n 2` (xdist starts two Python processes
that load every installed pytest plugin).

Rerun: `make bench-plugin` (or `.venv/bin/python benchmarks/plugin_parallel.py [--rounds N]`).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = 40
SUITE = """
import time

import pytest


@pytest.mark.parametrize("n", range({tests}))
def test_a_users_flow(ojin_local, tmp_path, n):
    time.sleep({wait_s})
    client = ojin_local.client
    config = client.create_model_config(f"avatar {{n}}", "ojin/oris-1.0/standard")
    image = tmp_path / "avatar.png"
    image.write_bytes(bytes(range(256)) * 40)
    asset = client.upload_file(image, "image")
    assert client.list_model_configs()["pagination"]["total_items"] == 1
    assert [a["asset_id"] for a in client.list_assets()["data"]] == [asset["asset_id"]]
    assert client.get_model_config(config["model_config_id"])["title"] == f"avatar {{n}}"
"""

EMPTY = """
import pytest


@pytest.mark.parametrize("n", range({tests}))
def test_nothing(n):
    pass
"""

RUNS = {
    "reset per test, serial (the plugin before namespaces)": ["--ojin-isolation", "reset"],
    "reset per test, -n 2 (a server per worker)": ["--ojin-isolation", "reset", "-n", "2"],
    "a namespace per test, serial": [],
    "a namespace per test, -n 2 (one shared server)": ["-n", "2"],
}


def run_suite(folder: Path, options: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, str(folder)],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"the suite failed with {options}:\n{done.stdout[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wait-ms", type=int, nargs="*", default=[0, 100])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ojin-plugin-bench-") as scratch:
        empty = Path(scratch, "empty")
        empty.mkdir()
        (empty / "test_empty.py").write_text(EMPTY.format(tests=TESTS))
        floors = {
            "serial": statistics.median(run_suite(empty, []) for _ in range(args.rounds)),
            "-n 2": statistics.median(run_suite(empty, ["-n", "2"]) for _ in range(args.rounds)),
        }
        print(
            f"floor, pytest on {TESTS} empty tests: {floors['serial']:.2f} s serially, "
            f"{floors['-n 2']:.2f} s with -n 2"
        )
        for wait_ms in args.wait_ms:
            folder = Path(scratch, f"wait-{wait_ms}")
            folder.mkdir()
            (folder / "test_suite.py").write_text(SUITE.format(tests=TESTS, wait_s=wait_ms / 1000))
            times: dict[str, list[float]] = {name: [] for name in RUNS}
            for _ in range(args.rounds):
                for name, options in RUNS.items():
                    times[name].append(run_suite(folder, options))
            reference = statistics.median(times[next(iter(RUNS))])
            print(
                f"{TESTS} tests, each waiting {wait_ms} ms, wall time of the whole run, "
                f"median of {args.rounds}:"
            )
            for name, measured in times.items():
                median = statistics.median(measured)
                print(f"  {name:55} {median:5.2f} s  ({median / reference:4.2f}x the first)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
