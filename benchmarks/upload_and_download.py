"""Asset upload and download through the filesystem backend, beside the references that bound it.

Uploads `--total-mib` (1 GiB) in `--part-mib` (8 MiB) parts, `--in-flight` (4) at a time, the
way a client of the real service does (initiate, sign each part, PUT the parts to their
pre-signed URLs, finalize, then download through the pre-signed `asset_url`), and measures in
the same run, with the same client code (httpx, one keep-alive client per thread, for the PUTs;
curl for the downloads, so the figure is the server's and not a Python client's):
- the loopback ceilings: the same PUTs to a bare Sanic route that discards the body, and a
  download of as many bytes that the bare app sends from memory (benchmarks/bare_sanic_app.py),
  one cache-hot 1 MiB buffer over and over; beside it, the same bytes sent from a file in the
  page cache by a plain socket and os.sendfile, no HTTP framework (what any file server can do);
- the CPU one core spends on MD5 of the same bytes (S3's part ETag: the floor of a part PUT);
- a raw sequential write of the same bytes to the same disk (fsynced), the same bytes as 8 MiB
  files each fsynced (what a durable server must do before its 200), a plain copy of them
  (shutil.copyfile + fsync) beside finalize, and sequential reads from disk and page cache;
- finalize of a 64 MiB upload too, to show its time does not grow with the object's size, and a
  Range request for the middle half of the multi-part object beside the whole download;
- a moto S3 server (`--moto-mib` of it, default all) receiving the same parts through boto3
  pre-signed URLs, completing the upload and serving it;
- ojin-local's peak RSS (VmHWM) and moto's, and the CPU each side spent on the part PUTs.
Parts are random bytes made once; ETags are checked against their MD5s, sizes of downloads too.

Rerun: `make bench-upload`, or
    .venv/bin/python benchmarks/upload_and_download.py [--total-mib 1024] [--part-mib 8]
        [--in-flight 4] [--moto-mib N] [--skip-moto] [--dir /tmp] [--keep]
Needs curl. The machine is noisy (2 CPUs shared by server and client): compare ratios, rerun.
Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, fields, replace
from importlib.metadata import version
from operator import attrgetter
from pathlib import Path
from typing import Any, TypeVar

import httpx
from servers import Server, Spec

HERE = Path(__file__).resolve().parent
KEY = {"X-API-Key": "ojin-local-dev-key"}
MIB = 1024 * 1024
GIB = 1024 * MIB
READ_CHUNK = 8 * MIB
DOWNLOADS = 4  # the first from disk (ojin-local drops written pages), then best of the rest

TARGET_CEILING_SHARE = 0.5  # part PUT >= 50% of the loopback ceiling
TARGET_PUT_VS_MOTO = 1.5
TARGET_PUT_CPU_S = 1.95  # server CPU s per GiB of part PUTs: half of the 3.90 before issue 13
TARGET_FINALIZE_S = 0.05  # whatever the object's size
TARGET_DOWNLOAD_VS_CEILING = 0.8
TARGET_DOWNLOAD_VS_MOTO = 3.0
TARGET_RANGE_VS_WHOLE = 0.8  # a Range from the middle of a multi-part object
TARGET_RSS_MB = 100
SMALL_MIB = 64  # the second upload, whose finalize is compared with the large one's
T = TypeVar("T")


@dataclass
class Figures:
    """What one server did with `nbytes`."""

    nbytes: int
    put_mbs: float = 0.0
    put_cpu: Cpu | None = None
    finalize_s: float = 0.0
    small_finalize_s: float = 0.0  # of a SMALL_MIB upload (ojin-local only)
    range_mbs: float = 0.0  # the middle half, by a Range request (ojin-local only)
    first_download_mbs: float = 0.0
    download_mbs: float = 0.0  # best of the later downloads: page cache (moto: memory)
    start_rss_mb: float = 0.0
    peak_rss_mb: float = 0.0


@dataclass
class Cpu:
    """CPU seconds of the server process and of this (client) process over `wall` seconds."""

    wall: float
    server: float
    client: float
    nbytes: int

    def per_gib(self) -> str:
        scale = GIB / self.nbytes
        return (
            f"server {self.server * scale:.2f} s, client {self.client * scale:.2f} s, "
            f"wall {self.wall * scale:.2f} s"
        )


@dataclass
class Disk:
    """The raw references, measured on the data dir's disk."""

    write_mbs: float = 0.0
    parts_mbs: float = 0.0
    copy_s: float = 0.0
    cold_copy_s: float = 0.0
    cold_read_mbs: float = 0.0
    warm_read_mbs: float = 0.0
    sendfile_mbs: float = 0.0
    md5_s: float = 0.0  # CPU seconds per GiB


@dataclass
class Ceilings:
    put_mbs: float = 0.0
    put_cpu: Cpu | None = None
    download_mbs: float = 0.0


@dataclass
class Parts:
    """The part buffers (made once, reused round-robin) and their MD5s."""

    buffers: list[bytes]
    md5s: list[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.md5s = [hashlib.md5(b, usedforsecurity=False).digest() for b in self.buffers]

    @property
    def size(self) -> int:
        return len(self.buffers[0])

    def etag(self, index: int) -> str:
        return f'"{self.md5s[index % len(self.md5s)].hex()}"'

    def multipart_etag(self, count: int) -> str:
        digests = b"".join(self.md5s[i % len(self.md5s)] for i in range(count))
        return f'"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{count}"'


def mbs(nbytes: int, seconds: float) -> float:
    return nbytes / 1e6 / seconds


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def process_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb(pid: int, field_name: str = "VmHWM") -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"{field_name}:\s+(\d+) kB", status)
    return int(found[1]) * 1024 / 1e6 if found else float("nan")


def server_pid(server: Server) -> int:
    assert server.proc is not None
    return server.proc.pid


def put_all(
    urls: list[str], parts: Parts, in_flight: int, pid: int, *, check: bool = True
) -> tuple[Cpu, list[str]]:
    """PUT part i to urls[i], `in_flight` at a time, one keep-alive client per thread; returns
    the time and CPU taken (server process and this one) and the ETags, checked to be MD5s."""
    etags = [""] * len(urls)
    numbers = itertools.count()  # next() is atomic under the GIL
    stop = threading.Event()  # set if the main thread is interrupted

    def worker() -> None:
        with httpx.Client(timeout=300) as client:
            while not stop.is_set() and (i := next(numbers)) < len(urls):
                response = client.put(urls[i], content=parts.buffers[i % len(parts.buffers)])
                response.raise_for_status()
                etags[i] = response.headers["etag"]

    server_before, client_before = process_cpu(pid), own_cpu()
    started = time.perf_counter()
    with ThreadPoolExecutor(in_flight) as pool:
        try:
            for future in [pool.submit(worker) for _ in range(in_flight)]:
                future.result()
        finally:
            stop.set()
    wall = time.perf_counter() - started
    cpu = Cpu(
        wall, process_cpu(pid) - server_before, own_cpu() - client_before, len(urls) * parts.size
    )
    wrong = [i + 1 for i, etag in enumerate(etags) if check and etag != parts.etag(i)]
    if wrong:
        raise RuntimeError(f"parts {wrong[:5]} answered ETags that are not their MD5")
    return cpu, etags


def download(url: str, expected: int, headers: tuple[str, ...] = ()) -> float:
    """MB/s of one GET read with curl into /dev/null (curl reads in large chunks)."""
    started = time.perf_counter()
    extra = [arg for header in headers for arg in ("-H", header)]
    done = subprocess.run(
        ["curl", "-sS", "--fail", *extra, "-o", "/dev/null", "-w", "%{size_download}", url],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if int(done.stdout) != expected:
        raise RuntimeError(f"downloaded {done.stdout} bytes, not {expected}")
    return mbs(expected, seconds)


def downloads(url: str, nbytes: int, figures: Figures) -> None:
    speeds = [download(url, nbytes) for _ in range(DOWNLOADS)]
    figures.first_download_mbs, figures.download_mbs = speeds[0], max(speeds[1:])


def check_etag(got: str, parts: Parts, count: int, who: str) -> None:
    if got.strip('"') != parts.multipart_etag(count).strip('"'):
        raise RuntimeError(f"{who}: object ETag {got} is not {parts.multipart_etag(count)}")


class OjinLocal:
    """ojin-local driven through its public API, as a client would: one upload per round."""

    META = {"name": "bench.bin", "category": "video", "content_type": "application/octet-stream"}

    def __init__(self, server: Server, parts: Parts, count: int, in_flight: int) -> None:
        self.parts, self.count, self.in_flight = parts, count, in_flight
        self.pid = server_pid(server)
        self.start_rss_mb = rss_mb(self.pid, "VmRSS")
        self.api = httpx.Client(base_url=server.url("/v1"), headers=KEY, timeout=600)

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.api.request(method, path, **kwargs)
        if response.is_error:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else {}

    def round(self) -> Figures:
        total = self.count * self.parts.size
        figures = Figures(total)
        small_count = SMALL_MIB * MIB // self.parts.size
        small_id, _, figures.small_finalize_s = self.upload(small_count)
        asset_id, figures.put_cpu, figures.finalize_s = self.upload(self.count)
        figures.put_mbs = mbs(total, figures.put_cpu.wall)
        url = self.call("GET", f"/assets/{asset_id}/download")["asset_url"]
        downloads(url, total, figures)
        middle = (f"Range: bytes={total // 4}-{3 * total // 4 - 1}",)
        figures.range_mbs = max(download(url, total // 2, middle) for _ in range(DOWNLOADS - 1))
        for done in (small_id, asset_id):  # every round starts from the same state
            self.call("DELETE", f"/assets/{done}")
        return figures

    def upload(self, count: int) -> tuple[str, Cpu, float]:
        """One asset of `count` parts: its id, the part PUTs' CPU and the finalize's seconds."""
        total = count * self.parts.size
        session = self.call(
            "POST", "/assets/initiate-upload", json={**self.META, "size_bytes": total}
        )
        ids = {k: session[k] for k in ("asset_id", "upload_id")}
        urls = [
            self.call("POST", "/assets/sign-part", json={**ids, "part_number": n})["upload_url"]
            for n in range(1, count + 1)
        ]
        cpu, etags = put_all(urls, self.parts, self.in_flight, self.pid)
        listed = [{"part_number": n, "etag": e} for n, e in enumerate(etags, start=1)]
        body = {**ids, **self.META, "size_bytes": total, "parts": listed}
        began = time.perf_counter()
        asset = self.call("POST", "/assets", json=body)
        finalize_s = time.perf_counter() - began
        check_etag(asset["etag"], self.parts, count, "ojin-local")
        return ids["asset_id"], cpu, finalize_s

    def close(self) -> None:
        self.api.close()


class Moto:
    """moto in its own process (it holds every byte in memory), driven through boto3 and its
    pre-signed URLs: one upload per round, deleted after it."""

    def __init__(self, server: Server, parts: Parts, count: int, in_flight: int) -> None:
        import boto3
        from botocore.config import Config

        self.parts, self.count, self.in_flight = parts, count, in_flight
        self.pid = server_pid(server)
        self.start_rss_mb = rss_mb(self.pid, "VmRSS")
        self.s3 = boto3.client(
            "s3",
            endpoint_url=server.url(""),
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        self.s3.create_bucket(Bucket="bench")

    def round(self) -> Figures:
        total = self.count * self.parts.size
        figures = Figures(total)
        where = {"Bucket": "bench", "Key": "bench.bin"}
        upload = self.s3.create_multipart_upload(**where)["UploadId"]
        target = {**where, "UploadId": upload}
        urls = [
            self.s3.generate_presigned_url("upload_part", Params={**target, "PartNumber": n})
            for n in range(1, self.count + 1)
        ]
        figures.put_cpu, etags = put_all(urls, self.parts, self.in_flight, self.pid)
        figures.put_mbs = mbs(total, figures.put_cpu.wall)
        listed = [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]
        began = time.perf_counter()
        done = self.s3.complete_multipart_upload(**target, MultipartUpload={"Parts": listed})
        figures.finalize_s = time.perf_counter() - began
        check_etag(done["ETag"], self.parts, self.count, "moto")
        downloads(self.s3.generate_presigned_url("get_object", Params=where), total, figures)
        self.s3.delete_object(**where)
        return figures


def ceilings(server: Server, parts: Parts, count: int, in_flight: int) -> Ceilings:
    total = count * parts.size
    urls = [server.url(f"/discard/part-{n}") for n in range(count)]
    put_cpu, _ = put_all(urls, parts, in_flight, server_pid(server), check=False)
    url = server.url(f"/stream/{total}")
    best = max(download(url, total) for _ in range(DOWNLOADS - 1))
    return Ceilings(mbs(total, put_cpu.wall), put_cpu, best)


def best(rounds: list[T]) -> T:
    """Per figure, its best round (noise only ever slows a run): the highest MB/s, the lowest
    seconds; the part PUT's CPU figures are those of the fastest PUT round."""
    values: dict[str, Any] = {}
    for item in fields(rounds[0]):  # type: ignore[arg-type]
        got = [getattr(r, item.name) for r in rounds]
        if item.name.endswith("_mbs"):
            values[item.name] = max(got)
        elif item.name.endswith("_s"):
            values[item.name] = min(got)
        elif item.name == "put_cpu":
            values[item.name] = max(rounds, key=attrgetter("put_mbs")).put_cpu
    return replace(rounds[0], **values)  # type: ignore[type-var]


def drop_cache(path: Path) -> None:
    """Evict a file's (clean, fsynced) pages, so the next read comes from the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def raw_disk(directory: Path, parts: Parts, count: int, in_flight: int) -> Disk:
    """The raw references, on the disk of `directory`; their files are removed afterwards."""
    source, copy = directory / "raw.bin", directory / "copy.bin"
    total = count * parts.size
    disk = Disk()

    def write() -> None:
        with open(source, "wb", buffering=0) as out:
            for i in range(count):
                out.write(parts.buffers[i % len(parts.buffers)])
            os.fsync(out.fileno())

    def write_part(i: int) -> None:
        path = directory / f"part-{i}"
        with open(path, "wb", buffering=0) as out:
            out.write(parts.buffers[i % len(parts.buffers)])
            os.fsync(out.fileno())
        path.unlink()

    def durable_parts() -> None:
        with ThreadPoolExecutor(in_flight) as pool:
            list(pool.map(write_part, range(count)))

    def duplicate() -> None:
        shutil.copyfile(source, copy)
        with open(copy, "rb+", buffering=0) as out:
            os.fsync(out.fileno())

    def read() -> None:
        with open(source, "rb", buffering=0) as src:
            while src.read(READ_CHUNK):
                pass

    try:
        disk.parts_mbs = mbs(total, timed(durable_parts))
        disk.write_mbs = mbs(total, timed(write))
        disk.sendfile_mbs = sendfile_ceiling(source, total)  # from the page cache, as written
        disk.md5_s = md5_cpu(parts, count)
        disk.copy_s = timed(duplicate)  # the source is in the page cache, as just written
        copy.unlink()
        drop_cache(source)
        disk.cold_copy_s = timed(duplicate)  # from the disk, as finalize reads evicted parts
        drop_cache(source)
        disk.cold_read_mbs = mbs(total, timed(read))
        disk.warm_read_mbs = max(mbs(total, timed(read)) for _ in range(DOWNLOADS - 1))
    finally:
        source.unlink(missing_ok=True)
        copy.unlink(missing_ok=True)
    return disk


def sendfile_ceiling(path: Path, nbytes: int) -> float:
    """Best MB/s of curl fetching `path` from a plain socket that os.sendfile()s it: what the
    kernel and curl can do with file bytes, with no HTTP framework."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            for _ in range(DOWNLOADS - 1):
                conn, _ = listener.accept()
                with conn, open(path, "rb") as file:
                    conn.recv(65536)
                    head = (
                        f"HTTP/1.1 200 OK\r\nContent-Length: {nbytes}\r\nConnection: close\r\n\r\n"
                    )
                    conn.sendall(head.encode())
                    conn.sendfile(file)

        server = threading.Thread(target=serve)
        server.start()
        try:
            return max(download(f"http://127.0.0.1:{port}/", nbytes) for _ in range(DOWNLOADS - 1))
        finally:
            server.join()


def md5_cpu(parts: Parts, count: int) -> float:
    """CPU seconds one core spends per GiB on MD5 of the parts (S3's part ETags)."""
    started = time.process_time()
    for i in range(count):
        hashlib.md5(parts.buffers[i % len(parts.buffers)], usedforsecurity=False).digest()
    return (time.process_time() - started) * GIB / (count * parts.size)


def filesystem_of(path: Path) -> str:
    """`fstype device on mountpoint` of the mount holding `path`, from /proc/self/mounts."""
    real = os.path.realpath(path)
    found: tuple[str, str, str] | None = None
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return "unknown filesystem"
    for line in lines:
        device, mount, fstype = line.split()[:3]
        mount = mount.replace("\\040", " ")
        inside = real == mount or real.startswith(mount.rstrip("/") + "/")
        if inside and (found is None or len(mount) >= len(found[1])):
            found = (device, mount, fstype)
    if found is None:
        return "unknown filesystem"
    return f"{found[2]} {found[0]} on {found[1]}"


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C (even if SIGINT was inherited ignored, as by a background job) and SIGTERM both
    raise KeyboardInterrupt, so every `finally` stops its server and removes its files."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class Row:
    figure: str
    ours: str
    reference: str
    ratio: float | None = None
    target: str = ""
    passed: bool | None = None  # None: no target on this row


class Table:
    """Rows of ours beside a reference; a figure's value is shown on its first row only."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def add(
        self,
        figure: str,
        ours: float,
        name: str,
        reference: float,
        fmt: str,
        *,
        at_least: float | None = None,
        at_most: float | None = None,
    ) -> None:
        ratio = ours / reference
        target, passed = "", None
        if at_least is not None:
            target, passed = f">= {at_least}x", ratio >= at_least
        if at_most is not None:
            target, passed = f"<= {at_most}x", ratio <= at_most
        shown = format(ours, fmt) if figure else ""
        self.rows.append(Row(figure, shown, f"{name} {reference:{fmt}}", ratio, target, passed))

    def print(self) -> bool:
        """True if no target is missed."""
        print(
            f"{'figure':14} {'ojin-local':>10}  {'reference':34} {'ratio':>6}  {'target':8} result"
        )
        ok = True
        for row in self.rows:
            ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
            result = "" if row.passed is None else ("PASS" if row.passed else "MISS")
            ok &= row.passed is not False
            line = f"{row.figure:14} {row.ours:>10}  {row.reference:34} {ratio:>6}  {row.target:8}"
            print(f"{line} {result}".rstrip())
        return ok


def report(ours: Figures, ceiling: Ceilings, disk: Disk, peer: Figures | None) -> bool:
    """The table and the CPU figures; True if no target is missed."""
    table, rate, secs = Table(), ",.0f", ".3f"
    put, fin = ours.put_mbs, ours.finalize_s
    table.add("part PUT MB/s", put, "loopback ceiling", ceiling.put_mbs, rate,
              at_least=TARGET_CEILING_SHARE)  # fmt: skip
    if peer is not None:
        table.add("", put, "moto", peer.put_mbs, rate, at_least=TARGET_PUT_VS_MOTO)
    table.add("", put, "raw disk write", disk.write_mbs, rate)
    table.add("", put, "durable part files", disk.parts_mbs, rate)
    assert ours.put_cpu is not None
    cpu = ours.put_cpu.server * GIB / ours.put_cpu.nbytes
    table.add("PUT CPU s/GiB", cpu, "before issue 13", 3.90, ".2f",
              at_most=TARGET_PUT_CPU_S / 3.90)  # fmt: skip
    table.add("", cpu, "MD5 alone, one core", disk.md5_s, ".2f")
    target = f"< {TARGET_FINALIZE_S}"
    table.rows.append(Row("finalize s", f"{fin:.3f}", f"{ours.nbytes // MIB} MiB", None, target,
                          fin < TARGET_FINALIZE_S))  # fmt: skip
    small = ours.small_finalize_s
    table.rows.append(Row("", f"{small:.3f}", f"{SMALL_MIB} MiB", None, target,
                          small < TARGET_FINALIZE_S))  # fmt: skip
    table.add("", fin, "plain copy", disk.copy_s, secs)
    table.add("", fin, "plain copy from disk", disk.cold_copy_s, secs)
    if peer is not None:  # scaled to our amount if moto got less
        table.add("", fin, "moto complete", peer.finalize_s * ours.nbytes / peer.nbytes, secs)
    get = ours.download_mbs
    table.add("download MB/s", get, "loopback ceiling", ceiling.download_mbs, rate,
              at_least=TARGET_DOWNLOAD_VS_CEILING)  # fmt: skip
    if peer is not None:
        table.add("", get, "moto", peer.download_mbs, rate, at_least=TARGET_DOWNLOAD_VS_MOTO)
    table.add("", get, "plain sendfile of a file", disk.sendfile_mbs, rate)
    table.add("", get, "raw read, page cache", disk.warm_read_mbs, rate)
    table.add("middle Range", ours.range_mbs, "whole download", get, rate,
              at_least=TARGET_RANGE_VS_WHOLE)  # fmt: skip
    first = ours.first_download_mbs
    table.add("1st download", first, "raw read, disk", disk.cold_read_mbs, rate)
    if peer is not None:
        table.add("", first, "moto 1st download", peer.first_download_mbs, rate)
    rss = ours.peak_rss_mb
    table.rows.append(Row("peak RSS MB", f"{rss:,.0f}", f"at start {ours.start_rss_mb:,.0f}",
                          None, f"< {TARGET_RSS_MB}", rss < TARGET_RSS_MB))  # fmt: skip
    if peer is not None:
        moto_rss = f"moto {peer.peak_rss_mb:,.0f} (at start {peer.start_rss_mb:,.0f})"
        table.rows.append(Row("", "", moto_rss))
    ok = table.print()

    print(f"\nCPU per GiB of part PUTs ({os.cpu_count()} CPUs; the client is this process):")
    cpus = [("ojin-local", ours.put_cpu), ("bare Sanic discard", ceiling.put_cpu)]
    if peer is not None:
        cpus.append(("moto", peer.put_cpu))
    for name, cpu in cpus:
        assert cpu is not None
        print(f"  {name:20} {cpu.per_gib()}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-mib", type=int, default=1024, help="bytes to upload (1024)")
    parser.add_argument("--part-mib", type=int, default=8, help="part size (8)")
    parser.add_argument("--in-flight", type=int, default=4, help="parallel part PUTs (4)")
    parser.add_argument(
        "--moto-mib",
        type=int,
        help="bytes to send moto (all; it holds them in memory, ~4.5 GB/GiB)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds; best of each figure (3)")
    parser.add_argument("--skip-moto", action="store_true", help="no moto reference")
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="disk under test (%(default)s)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (data dir, log)")
    args = parser.parse_args()
    ojin_bin = Path(sys.executable).with_name("ojin-local")
    if not ojin_bin.exists():
        sys.exit(f"{ojin_bin} not found: run this with the project's venv (make bench-upload)")
    if not shutil.which("curl"):
        sys.exit("curl not found: downloads are timed with curl (apt-get install curl)")
    if args.total_mib % args.part_mib or args.part_mib < 5:
        sys.exit("--total-mib must be a multiple of --part-mib, and parts at least 5 MiB (S3)")
    count = args.total_mib // args.part_mib
    moto_count = (args.moto_mib or args.total_mib) // args.part_mib
    total = count * args.part_mib * MIB
    if shutil.disk_usage(args.dir).free < 3 * total + GIB:
        sys.exit(f"{args.dir} has less than {(3 * total + GIB) / 1e9:.1f} GB free")

    parts = Parts([os.urandom(args.part_mib * MIB) for _ in range(4)])  # made once, reused
    work = Path(tempfile.mkdtemp(prefix="ojin-bench-upload-", dir=args.dir))
    data_dir = work / "data"
    ojin_argv = [str(ojin_bin), "serve", "--port", "{port}", "--data-dir", str(data_dir)]
    bare_argv = [sys.executable, str(HERE / "bare_sanic_app.py"), "--port", "{port}"]
    moto_argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "{port}"]
    moto_text = "skipped" if args.skip_moto else f"{moto_count * args.part_mib} MiB"
    print(
        f"ojin-local upload/download benchmark: {args.total_mib} MiB in {count} parts of "
        f"{args.part_mib} MiB, {args.in_flight} in flight (moto: {moto_text})\n"
        f"best of {args.rounds} rounds, contenders in rotating order; load {load()}\n"
        f"Python {platform.python_version()}, Sanic {version('sanic')}, moto {version('moto')}, "
        f"boto3 {version('boto3')}, httpx {version('httpx')}, {os.cpu_count()} CPUs\n"
        f"data dir {data_dir}: {filesystem_of(work)}\n",
        flush=True,
    )
    disks: list[Disk] = []
    tops: list[Ceilings] = []
    ours: list[Figures] = []
    peers: list[Figures] = []
    try:
        with interruptible(), ExitStack() as stack:
            bare = stack.enter_context(Server(Spec("bare Sanic", bare_argv, "/", {})))
            server = stack.enter_context(Server(Spec("ojin-local", ojin_argv, "/_ojin/health", {})))
            ojin = OjinLocal(server, parts, count, args.in_flight)
            stack.callback(ojin.close)
            phases: dict[str, Callable[[], object]] = {
                "disk": lambda: disks.append(raw_disk(work, parts, count, args.in_flight)),
                "bare": lambda: tops.append(ceilings(bare, parts, count, args.in_flight)),
                "ojin": lambda: ours.append(ojin.round()),
            }
            peer = None
            if not args.skip_moto:
                moto_server = stack.enter_context(Server(Spec("moto", moto_argv, "/", {})))
                peer = Moto(moto_server, parts, moto_count, args.in_flight)
                phases["moto"] = lambda: peers.append(peer.round())
            names = list(phases)
            for n in range(args.rounds):
                for name in names[n % len(names) :] + names[: n % len(names)]:
                    phases[name]()
                progress(
                    n, args.rounds, disks[-1], tops[-1], ours[-1], peers[-1] if peers else None
                )
            mine = best(ours)
            mine.start_rss_mb, mine.peak_rss_mb = ojin.start_rss_mb, rss_mb(ojin.pid)
            theirs = None
            if peer is not None:
                theirs = best(peers)
                theirs.start_rss_mb, theirs.peak_rss_mb = peer.start_rss_mb, rss_mb(peer.pid)
            if args.keep:
                shutil.copyfile(server.log_path, work / "ojin-local.log")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    ok = report(mine, best(tops), best(disks), theirs)
    print(f"load after: {load()}" + (f"; kept {work}" if args.keep else ""))
    return 0 if ok else 1


def progress(
    n: int, rounds: int, disk: Disk, top: Ceilings, ours: Figures, peer: Figures | None
) -> None:
    """One line per round, so the spread behind the best figures is visible."""
    moto_put = f" / moto {peer.put_mbs:,.0f}" if peer else ""
    moto_get = f" / moto {peer.download_mbs:,.0f}" if peer else ""
    print(
        f"round {n + 1}/{rounds}: part PUT {ours.put_mbs:,.0f} / ceiling {top.put_mbs:,.0f}"
        f"{moto_put} MB/s; finalize {ours.finalize_s * 1000:.0f} ms ({SMALL_MIB} MiB: "
        f"{ours.small_finalize_s * 1000:.0f}) / copy {disk.copy_s:.2f} s; download "
        f"{ours.download_mbs:,.0f}{moto_get} / ceiling {top.download_mbs:,.0f} MB/s",
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
