"""The single binary against the installed package: start to first 200, memory, size.

Run by `make bench-dist` with the build venv's Python, which has PyInstaller to read the
binary's table of contents (what dominates its size). Target: start within 2x the package's.

    .venv-dist/bin/python benchmarks/binary.py dist/ojin-local [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

from servers import Server, Spec

HEALTH = "/_ojin/health"


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (a onefile binary is two processes)."""
    total_kib = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        status = Path(f"/proc/{current}/status").read_text()
        total_kib += int(next(line.split()[1] for line in status.splitlines() if "VmRSS" in line))
        children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        pids.extend(map(int, children))
    return total_kib / 1024


def measure(name: str, command: list[str], runs: int) -> tuple[float, float, float]:
    """Median seconds to first 200 on a fresh data dir and on a restart, and RSS after start."""
    first, again, rss = [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="ojin-bench-data-") as data:
            argv = [*command, "serve", "--port", "{port}", "--data-dir", data]
            with Server(Spec(name, argv, HEALTH, {})) as fresh:
                first.append(fresh.ready_s)
                assert fresh.proc is not None
                rss.append(tree_rss_mib(fresh.proc.pid))
            with Server(Spec(name, argv, HEALTH, {})) as restarted:
                again.append(restarted.ready_s)
    return statistics.median(first), statistics.median(again), statistics.median(rss)


def size_breakdown(binary: Path) -> list[tuple[str, int]]:
    """Compressed bytes per top-level package inside the binary, largest first."""
    try:
        from PyInstaller.archive.readers import CArchiveReader
    except ImportError:
        return []
    groups: Counter[str] = Counter()
    for name, entry in CArchiveReader(str(binary)).toc.items():
        groups[name.split("/")[0]] += entry[1]
    return groups.most_common(8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("binary", type=Path)
    parser.add_argument("--package", default=str(Path(sys.executable).with_name("ojin-local")))
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    binary = args.binary.resolve()
    results = {
        "installed package": measure("package", [args.package], args.runs),
        "single binary": measure("binary", [str(binary)], args.runs),
    }
    print(f"start to first 200 (median of {args.runs}), RSS after start")
    for name, (first, again, rss) in results.items():
        print(f"  {name:18} first start {first:5.2f} s  restart {again:5.2f} s  RSS {rss:5.0f} MiB")
    package, frozen = results["installed package"], results["single binary"]
    ratio = frozen[1] / package[1]
    verdict = "PASS" if ratio <= 2 else "MISS"
    print(f"  binary / package restart: {ratio:.2f}x (target <= 2x) {verdict}")

    size = binary.stat().st_size
    print(f"size: {size / 2**20:.1f} MiB")
    for name, length in size_breakdown(binary):
        print(f"  {length / 2**20:6.1f} MiB  {name}")


if __name__ == "__main__":
    main()
