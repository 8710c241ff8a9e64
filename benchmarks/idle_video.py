"""Idle-video generation time for a 512x512 image, beside the ffmpeg command line.

Measures, in one run, ojin-local's renderer (`ojin_local.media.idle_video`, as a job runs it)
making 5 s of 25 fps video from a synthetic 512x512 portrait for each template, and the ffmpeg
binary shipped by imageio-ffmpeg doing a comparable breathing zoom (zoompan) on the same image
with the same encoder settings. Besides time it reports how smooth the motion is: the largest
frame-to-frame change over the median one (sub-pixel motion changes evenly; stepped motion
idles, then jumps). Target: under 1 s per 5 s of video.

Rerun: `make bench-video` (or `.venv/bin/python benchmarks/idle_video.py --runs 5`).
"""

from __future__ import annotations

import argparse
import io
import itertools
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import av
import numpy as np
from PIL import Image, ImageDraw

from ojin_local.media.idle_video import TEMPLATES, VideoSettings, render_idle_video

SIDE = 512
SECONDS = 5
FPS = 25
TARGET_SECONDS = 1.0
T = TypeVar("T")


def portrait_png() -> bytes:
    ramp = np.linspace(40, 220, SIDE, dtype=np.uint8)
    image = Image.fromarray(np.tile(ramp, (SIDE, 1)), "L").convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((150, 80, 362, 360), fill=(230, 190, 160))
    draw.ellipse((200, 190, 225, 210), fill=(20, 20, 20))
    draw.ellipse((287, 190, 312, 210), fill=(20, 20, 20))
    draw.arc((210, 240, 302, 300), 20, 160, fill=(120, 40, 40), width=4)
    draw.rectangle((90, 380, 422, 512), fill=(40, 60, 140))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def ffmpeg_command(ffmpeg: str, source: Path, target: Path) -> list[str]:
    frames = SECONDS * FPS
    zoom = f"zoompan=z='1.06+0.02*(1-cos(2*PI*on/{frames}))/2':d={frames}"
    zoom += f":x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':s={SIDE}x{SIDE}:fps={FPS}"
    return [
        ffmpeg, "-v", "error", "-y", "-i", str(source), "-vf", zoom,
        "-frames:v", str(frames), "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
        "-threads", "2", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(target),
    ]  # fmt: skip


def smoothness(mp4: bytes) -> float:
    """Largest frame-to-frame change over the median one (1-2 for even motion)."""
    container = av.open(io.BytesIO(mp4))
    frames = [f.to_ndarray(format="gray").astype(np.int16) for f in container.decode(video=0)]
    steps = [float(np.abs(b - a).mean()) for a, b in itertools.pairwise(frames)]
    return max(steps) / max(statistics.median(steps), 1e-6)


def timed(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per contender, median (5)")
    args = parser.parse_args()
    import imageio_ffmpeg

    png = portrait_png()
    settings = VideoSettings(max_side=SIDE, fps=FPS, seconds=SECONDS)
    rows = []
    for template in TEMPLATES:
        seconds, mp4 = timed(lambda t=template: render_idle_video(png, t, settings), args.runs)
        rows.append((f"ojin-local {template}", seconds, smoothness(mp4), len(mp4)))
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    with tempfile.TemporaryDirectory() as scratch:
        source, target = Path(scratch, "in.png"), Path(scratch, "out.mp4")
        source.write_bytes(png)
        command = ffmpeg_command(ffmpeg, source, target)
        seconds, _ = timed(lambda: subprocess.run(command, check=True), args.runs)
        mp4 = target.read_bytes()
        rows.append(("ffmpeg zoompan (reference)", seconds, smoothness(mp4), len(mp4)))

    print(f"python {platform.python_version()}, av {av.__version__}, "
          f"ffmpeg {imageio_ffmpeg.get_ffmpeg_version()} (imageio-ffmpeg); "
          f"{SIDE}x{SIDE}, {SECONDS} s at {FPS} fps, median of {args.runs}")  # fmt: skip
    print(f"{'contender':30} {'seconds':>8} {'max/median step':>16} {'bytes':>8}  target")
    ok = True
    for name, seconds, smooth, size in rows:
        verdict = ""
        if name.startswith("ojin-local"):
            passed = seconds < TARGET_SECONDS
            ok &= passed
            verdict = f"< {TARGET_SECONDS:.1f} s {'PASS' if passed else 'MISS'}"
        print(f"{name:30} {seconds:8.3f} {smooth:16.2f} {size:8d}  {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
