"""Asset upload and download through the filesystem backend, beside the references that bound it.

Uploads `--total-mib` (1 GiB) in `--part-mib` (8 MiB) parts, `--in-flight` (4) at a time, the
way a client of the real service does (initiate, sign each part, PUT the parts to their
pre-signed URLs, finalize, then download through the pre-signed `asset_url`), and measures in
the same run, with the same client code:
- the loopback ceiling: the same PUTs to a bare Sanic route that discards the body;
- a raw sequential write of the same bytes to the same disk (fsynced), and a plain copy of them;
- a moto S3 server receiving the same parts through boto3 pre-signed URLs, completing, serving;
- a raw sequential read of the bytes (page cache, like the server's download);
- ojin-local's peak RSS (VmHWM) while it all passes through.

Rerun: `make bench-upload` (or `.venv/bin/python benchmarks/upload_and_download.py`).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import httpx
from servers import Server, Spec, free_port

HERE = Path(__file__).resolve().parent
KEY = {"X-API-Key": "ojin-local-dev-key"}
MIB = 1024 * 1024
CHUNK = MIB

TARGET_CEILING_SHARE = 0.6  # part PUT >= 60% of the loopback ceiling
TARGET_PUT_VS_MOTO = 2.5
TARGET_FINALIZE_VS_COPY = 1.5  # finalize <= 1.5x the plain copy
TARGET_DOWNLOAD_VS_MOTO = 3.0
TARGET_RSS_MB = 100


@dataclass
class Figures:
    put_mbs: float = 0.0
    finalize_s: float = 0.0
    first_download_mbs: float = 0.0  # ojin-local's object is on disk, moto's in memory
    download_mbs: float = 0.0  # best of the next three: from the page cache
    peak_rss_mb: float = 0.0


def mbs(nbytes: int, seconds: float) -> float:
    return nbytes / 1e6 / seconds


def put_all(urls: list[str], parts: list[bytes], in_flight: int) -> tuple[float, list[str]]:
    """PUT part i to urls[i], `in_flight` at a time, one keep-alive client per thread; returns
    the wall time and the ETags."""
    etags = [""] * len(urls)
    numbers = itertools.count()
    local = threading.local()

    def worker() -> None:
        local.client = httpx.Client(timeout=120)
        with local.client:
            while (i := next(numbers)) < len(urls):
                response = local.client.put(urls[i], content=parts[i % len(parts)])
                response.raise_for_status()
                etags[i] = response.headers["etag"]

    started = time.perf_counter()
    with ThreadPoolExecutor(in_flight) as pool:
        for future in [pool.submit(worker) for _ in range(in_flight)]:
            future.result()
    return time.perf_counter() - started, etags


def download(url: str) -> tuple[float, int]:
    """With curl, so the figure is the server's rather than a Python client's (httpx tops out
    near 400 MB/s here, about what both servers reach)."""
    started = time.perf_counter()
    done = subprocess.run(
        ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download}", url],
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - started, int(done.stdout)


def downloads(url: str, total: int, figures: Figures) -> None:
    speeds = []
    for _ in range(4):
        seconds, received = download(url)
        assert received == total, received
        speeds.append(mbs(total, seconds))
    figures.first_download_mbs, figures.download_mbs = speeds[0], max(speeds[1:])


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(found[1]) / 1024 if found else float("nan")


def ojin_local(server: Server, parts: list[bytes], count: int, in_flight: int) -> Figures:
    api = httpx.Client(base_url=server.url("/v1"), headers=KEY, timeout=300)
    total = count * len(parts[0])
    session = api.post(
        "/assets/initiate-upload",
        json={"name": "bench.bin", "category": "weight", "size_bytes": total},
    ).json()
    ids = {"asset_id": session["asset_id"], "upload_id": session["upload_id"]}
    urls = [
        api.post("/assets/sign-part", json={**ids, "part_number": n}).json()["upload_url"]
        for n in range(1, count + 1)
    ]
    figures = Figures()
    seconds, etags = put_all(urls, parts, in_flight)
    figures.put_mbs = mbs(total, seconds)
    body = {
        **ids,
        "name": "bench.bin",
        "category": "weight",
        "content_type": "application/octet-stream",
        "size_bytes": total,
        "parts": [{"part_number": n, "etag": e} for n, e in enumerate(etags, start=1)],
    }
    started = time.perf_counter()
    finalized = api.post("/assets", json=body)
    figures.finalize_s = time.perf_counter() - started
    assert finalized.status_code == 201, finalized.text
    downloads(api.get(f"/assets/{ids['asset_id']}/download").json()["asset_url"], total, figures)
    assert server.proc is not None
    figures.peak_rss_mb = peak_rss_mb(server.proc.pid)
    return figures


def discard_ceiling(server: Server, parts: list[bytes], count: int, in_flight: int) -> float:
    urls = [server.url(f"/discard/part-{n}") for n in range(count)]
    seconds, _ = put_all(urls, parts, in_flight)
    return mbs(count * len(parts[0]), seconds)


def moto(parts: list[bytes], count: int, in_flight: int) -> Figures:
    """moto in its own process (it holds every byte in memory), driven through boto3."""
    import boto3
    from botocore.config import Config

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        for _ in range(200):
            try:
                s3.create_bucket(Bucket="bench")
                break
            except Exception:
                time.sleep(0.05)
        upload = s3.create_multipart_upload(Bucket="bench", Key="bench.bin")["UploadId"]
        target = {"Bucket": "bench", "Key": "bench.bin", "UploadId": upload}
        urls = [
            s3.generate_presigned_url("upload_part", Params={**target, "PartNumber": n})
            for n in range(1, count + 1)
        ]
        figures = Figures()
        total = count * len(parts[0])
        seconds, etags = put_all(urls, parts, in_flight)
        figures.put_mbs = mbs(total, seconds)
        listed = [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]
        figures.finalize_s = timed(
            lambda: s3.complete_multipart_upload(**target, MultipartUpload={"Parts": listed})
        )
        where = {"Bucket": "bench", "Key": "bench.bin"}
        downloads(s3.generate_presigned_url("get_object", Params=where), total, figures)
        figures.peak_rss_mb = peak_rss_mb(process.pid)
        return figures
    finally:
        process.terminate()
        process.wait(30)


def raw_disk(
    directory: Path, parts: list[bytes], count: int, in_flight: int
) -> tuple[float, float, float, float]:
    """MB/s of a sequential write (fsynced at the end) and of durable parts (each its own file,
    fsynced, `in_flight` at a time: what a server must do before it may answer 200), seconds of
    a plain copy (fsynced), and MB/s of a sequential read."""
    source, copy = directory / "raw.bin", directory / "copy.bin"
    total = count * len(parts[0])

    def write() -> None:
        with open(source, "wb", buffering=0) as out:
            for i in range(count):
                out.write(parts[i % len(parts)])
            os.fsync(out.fileno())

    def write_part(i: int) -> None:
        path = directory / f"part-{i}"
        with open(path, "wb", buffering=0) as out:
            out.write(parts[i % len(parts)])
            os.fsync(out.fileno())
        path.unlink()

    def durable_parts() -> None:
        with ThreadPoolExecutor(in_flight) as pool:
            list(pool.map(write_part, range(count)))

    def duplicate() -> None:
        with open(source, "rb") as src, open(copy, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK * 8)
            dst.flush()
            os.fsync(dst.fileno())

    def read() -> None:
        with open(source, "rb", buffering=0) as src:
            while src.read(CHUNK):
                pass

    parts_s, write_s, copy_s, read_s = (
        timed(durable_parts),
        timed(write),
        timed(duplicate),
        timed(read),
    )
    source.unlink()
    copy.unlink()
    return mbs(total, write_s), mbs(total, parts_s), copy_s, mbs(total, read_s)


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-mib", type=int, default=1024, help="bytes to upload (1024)")
    parser.add_argument("--part-mib", type=int, default=8, help="part size (8)")
    parser.add_argument("--in-flight", type=int, default=4, help="parallel part PUTs (4)")
    parser.add_argument("--skip-moto", action="store_true", help="no moto reference")
    args = parser.parse_args()
    ojin_bin = Path(sys.executable).with_name("ojin-local")
    if not ojin_bin.exists():
        sys.exit(f"{ojin_bin} not found: run this with the project's venv (make bench-upload)")
    if not shutil.which("curl"):
        sys.exit("curl not found: downloads are timed with curl (apt-get install curl)")

    count = args.total_mib // args.part_mib
    parts = [os.urandom(args.part_mib * MIB) for _ in range(4)]  # made once, reused
    total = count * args.part_mib * MIB
    ojin_argv = [str(ojin_bin), "serve", "--no-jobs", "--port", "{port}", "--data-dir", "{tmp}"]
    bare_argv = [sys.executable, str(HERE / "bare_sanic_app.py"), "--port", "{port}"]
    print(
        f"ojin-local upload/download benchmark: {args.total_mib} MiB in {count} parts of "
        f"{args.part_mib} MiB, {args.in_flight} in flight\nPython {platform.python_version()}, "
        f"Sanic {version('sanic')}, httpx {version('httpx')}, moto {version('moto')}, "
        f"{os.cpu_count()} CPUs, temp dirs under {tempfile.gettempdir()}\n",
        flush=True,
    )
    with Server(Spec("bare Sanic", bare_argv, "/", {})) as bare:
        ceiling = discard_ceiling(bare, parts, count, args.in_flight)
    with Server(Spec("ojin-local", ojin_argv, "/_ojin/health", {})) as server:
        write_mbs, parts_mbs, copy_s, read_mbs = raw_disk(server.tmp, parts, count, args.in_flight)
        ours = ojin_local(server, parts, count, args.in_flight)
    peer = None if args.skip_moto else moto(parts, count, args.in_flight)

    rows = [
        ("part PUT (MB/s)", f"{ours.put_mbs:,.0f}", f"loopback ceiling {ceiling:,.0f}",
         ours.put_mbs / ceiling, f">= {TARGET_CEILING_SHARE}x",
         ours.put_mbs >= TARGET_CEILING_SHARE * ceiling),
        ("", "", f"raw disk write {write_mbs:,.0f}", ours.put_mbs / write_mbs, "", None),
        ("", "", f"durable parts {parts_mbs:,.0f}", ours.put_mbs / parts_mbs, "", None),
        ("finalize (s)", f"{ours.finalize_s:.2f}", f"plain copy {copy_s:.2f}",
         ours.finalize_s / copy_s, f"<= {TARGET_FINALIZE_VS_COPY}x",
         ours.finalize_s <= TARGET_FINALIZE_VS_COPY * copy_s),
        ("download (MB/s)", f"{ours.download_mbs:,.0f}", f"raw read {read_mbs:,.0f}",
         ours.download_mbs / read_mbs, "", None),
        ("first download", f"{ours.first_download_mbs:,.0f}", "(from disk)", None, "", None),
        ("peak RSS (MB)", f"{ours.peak_rss_mb:.0f}", f"{total / 1e6:,.0f} MB passed through",
         None, f"< {TARGET_RSS_MB}", ours.peak_rss_mb < TARGET_RSS_MB),
    ]  # fmt: skip
    if peer is not None:
        rows[1:1] = [
            ("", "", f"moto {peer.put_mbs:,.0f}", ours.put_mbs / peer.put_mbs,
             f">= {TARGET_PUT_VS_MOTO}x", ours.put_mbs >= TARGET_PUT_VS_MOTO * peer.put_mbs),
        ]  # fmt: skip
        rows.insert(5, ("", "", f"moto complete {peer.finalize_s:.2f}", None, "", None))
        rows.insert(-2, (
            "", "", f"moto {peer.download_mbs:,.0f}", ours.download_mbs / peer.download_mbs,
            f">= {TARGET_DOWNLOAD_VS_MOTO}x",
            ours.download_mbs >= TARGET_DOWNLOAD_VS_MOTO * peer.download_mbs,
        ))  # fmt: skip
        rows.append(("", "", f"moto peak RSS {peer.peak_rss_mb:,.0f} MB", None, "", None))
    print(f"{'figure':16} {'ojin-local':>10}  {'reference':30} {'ratio':>6}  {'target':9} result")
    ok = True
    for figure, ours_text, reference, ratio, target, passed in rows:
        ratio_text = f"{ratio:.2f}x" if ratio is not None else ""
        result = "" if passed is None else verdict(passed)
        ok &= passed is not False
        print(f"{figure:16} {ours_text:>10}  {reference:30} {ratio_text:>6}  {target:9} {result}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
