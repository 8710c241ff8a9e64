"""An idle video from a still image: subtle, looping motion, encoded as a browser-playable MP4.

The image is decoded once (Pillow), converted once to YUV 4:2:0 planes, and each frame is an
affine warp (bilinear, so motion is smooth to a fraction of a pixel) of those planes, handed to
x264 as is: no per-frame colour conversion, the step that made the naive pipeline slow
(../shared/notes/stack-findings.md). Motion is a periodic function of time whose period is the
clip's length, so the last frame flows into the first and the clip loops without a seam.
Everything is deterministic: the same image and template give the same bytes.
"""

from __future__ import annotations

import io
import math
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

TEMPLATES = ("v1", "v2", "v3")
FORMATS = ("PNG", "JPEG", "WEBP")
MAX_SOURCE_PIXELS = 40_000_000  # decoding more is a decompression bomb, not a portrait
MIN_SIDE = 16
BACKGROUND = (128, 128, 128)  # behind transparent pixels
WARP_THREADS = 2
FRAMES_AHEAD = 6  # bounds memory: a few frames in flight, never the whole clip
# x264's output depends on its thread count; fixing it keeps videos identical across machines.
X264_THREADS = 2


class InvalidSourceImage(Exception):
    """The bytes are not a PNG, JPEG or WebP image this renderer can use; the message says why."""


@dataclass(frozen=True)
class VideoSettings:
    max_side: int = 512
    fps: int = 25
    seconds: float = 4.0
    crf: int = 20
    preset: str = "veryfast"


@dataclass(frozen=True)
class Pose:
    """Where the still sits in one frame: zoom about a pivot, rotation, and a shift; lengths are
    fractions of the frame's height so a pose means the same at any size."""

    zoom: float
    angle_degrees: float
    shift_x: float
    shift_y: float
    pivot_y: float  # 0 top .. 1 bottom; x is always the centre


def _breathing(phase: float) -> Pose:
    """v1: a slow breath, the head rising a little as the frame eases in."""
    breath = (1 - math.cos(phase)) / 2
    return Pose(1.06 + 0.02 * breath, 0.0, 0.0, -0.008 * breath, 0.85)


def _sway(phase: float) -> Pose:
    """v2: a gentle side-to-side sway, pivoting low like a body shifting its weight."""
    return Pose(1.07, 1.1 * math.sin(phase), 0.006 * math.sin(phase), 0.0, 1.0)


def _nod(phase: float) -> Pose:
    """v3: a small nod twice per loop, with a slight tilt and a drifting zoom."""
    return Pose(
        1.07 + 0.01 * math.sin(phase),
        0.6 * math.sin(phase + math.pi / 3),
        0.0,
        0.007 * math.sin(2 * phase),
        0.6,
    )


MOTIONS: dict[str, Callable[[float], Pose]] = {"v1": _breathing, "v2": _sway, "v3": _nod}


def render_idle_video(image: bytes, template: str, settings: VideoSettings | None = None) -> bytes:
    """Blocking and CPU-bound; Pillow's warps and x264 release the GIL for most of it."""
    if template not in MOTIONS:
        raise ValueError(f"unknown template {template!r}; one of {', '.join(TEMPLATES)}")
    settings = settings or VideoSettings()
    planes = _yuv_planes(_decode(image, settings.max_side))
    frames = round(settings.fps * settings.seconds)
    # faststart moves the index to the front in a second pass that reopens the file by name.
    with tempfile.TemporaryDirectory(prefix="ojin-idle-video-") as scratch:
        path = Path(scratch, "idle.mp4")
        _encode(planes, MOTIONS[template], frames, settings, path)
        return path.read_bytes()


def _encode(
    planes: list[np.ndarray],
    motion: Callable[[float], Pose],
    frames: int,
    settings: VideoSettings,
    path: Path,
) -> None:
    height, width = planes[0].shape
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream(
            "libx264",
            rate=settings.fps,
            options={
                "preset": settings.preset,
                "crf": str(settings.crf),
                "threads": str(X264_THREADS),
            },
        )
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.profile = "High"
        for index, frame in enumerate(_frames(planes, motion, frames)):
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _decode(data: bytes, max_side: int) -> Image.Image:
    """RGB, upright (EXIF), at most `max_side` on its longest side, even width and height."""
    if not data:
        raise InvalidSourceImage("the image is empty")
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as opened:
            if opened.width * opened.height > MAX_SOURCE_PIXELS:
                raise InvalidSourceImage(
                    f"the image is {opened.width}x{opened.height}; "
                    f"at most {MAX_SOURCE_PIXELS} pixels are accepted"
                )
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except UnidentifiedImageError:
        raise InvalidSourceImage("not a PNG, JPEG or WebP image") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidSourceImage(f"the image cannot be decoded: {exc}") from None
    if min(image.size) < MIN_SIDE:
        raise InvalidSourceImage(f"the image is {image.width}x{image.height}; too small")
    image = _flatten(image)
    scale = min(1.0, max_side / max(image.size))
    width = max(MIN_SIDE, round(image.width * scale)) // 2 * 2
    height = max(MIN_SIDE, round(image.height * scale)) // 2 * 2
    if (width, height) != image.size:
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    return image


def _flatten(image: Image.Image) -> Image.Image:
    """Transparency over a neutral grey, and any mode (palette, grey, CMYK, 16-bit) as RGB."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _yuv_planes(image: Image.Image) -> list[np.ndarray]:
    """Y at full size, U and V at half: converted once, by libswscale, as x264 expects them."""
    frame = av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24").reformat(format="yuv420p")
    packed = frame.to_ndarray()
    height, width = image.height, image.width
    y = packed[:height]
    chroma = packed[height:].reshape(2, height // 2, width // 2)
    return [np.ascontiguousarray(y), np.ascontiguousarray(chroma[0]), chroma[1].copy()]


def _frames(
    planes: list[np.ndarray], motion: Callable[[float], Pose], count: int
) -> Iterator[av.VideoFrame]:
    """Frames in order, warped by two threads a few frames ahead of the encoder (Pillow's warp
    releases the GIL): on two cores that takes the warp off the critical path."""
    height, width = planes[0].shape
    sources = [Image.fromarray(plane, "L") for plane in planes]

    def warp_frame(index: int) -> np.ndarray:
        pose = motion(2 * math.pi * index / count)
        warped = [np.asarray(_warp(s, pose, s.width / width, height)) for s in sources]
        return np.concatenate([plane.reshape(-1) for plane in warped])

    with ThreadPoolExecutor(WARP_THREADS, thread_name_prefix="idle-video-warp") as pool:
        ahead: deque[Future[np.ndarray]] = deque()
        for index in range(count):
            while len(ahead) < FRAMES_AHEAD and index + len(ahead) < count:
                ahead.append(pool.submit(warp_frame, index + len(ahead)))
            packed = ahead.popleft().result()
            yield av.VideoFrame.from_ndarray(
                packed.reshape(height * 3 // 2, width), format="yuv420p"
            )


def _warp(plane: Image.Image, pose: Pose, scale: float, frame_height: int) -> Image.Image:
    """The plane as seen in this pose. Pillow's AFFINE maps each output pixel back to the
    source: i = P + R(-angle)(o - P - t) / zoom."""
    unit = frame_height * scale  # pose lengths are fractions of the frame height
    pivot_x, pivot_y = plane.width / 2, pose.pivot_y * plane.height
    shift_x, shift_y = pose.shift_x * unit, pose.shift_y * unit
    angle = math.radians(pose.angle_degrees)
    cos, sin = math.cos(angle) / pose.zoom, math.sin(angle) / pose.zoom
    origin_x, origin_y = pivot_x + shift_x, pivot_y + shift_y
    coefficients = (
        cos,
        sin,
        pivot_x - cos * origin_x - sin * origin_y,
        -sin,
        cos,
        pivot_y + sin * origin_x - cos * origin_y,
    )
    return plane.transform(
        plane.size, Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR
    )
