"""An idle video from a still image: subtle, looping motion, encoded as a browser-playable MP4.

The image is decoded once (Pillow), converted once to YUV 4:2:0 planes, and each frame is an
affine warp (bilinear, so motion is smooth to a fraction of a pixel) of those planes, handed to
x264 as is: no per-frame colour conversion, the step that made the naive pipeline slow. Motion
is a periodic function of time whose period is the clip's length, so the last frame flows into
the first and the clip loops without a seam. The same image, template and settings give the
same bytes (for the same versions of PyAV, x264 and Pillow).
"""

from __future__ import annotations

import io
import math
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import av
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc, Interpolation
from PIL import Image, ImageOps, UnidentifiedImageError

FORMATS = ("PNG", "JPEG", "WEBP")
MAX_SOURCE_PIXELS = 40_000_000  # decoding more is a decompression bomb, not a portrait
MIN_SIDE = 16
BACKGROUND = (128, 128, 128)  # behind transparent pixels
WARP_THREADS = 2
FRAMES_AHEAD = 6  # bounds memory: a few frames in flight, never the whole clip
# x264's output depends on its thread count, so it is fixed rather than left to follow the
# machine's cores. One thread costs less CPU and fewer bytes than frame threads, and the two
# warp threads beside it keep two cores busy.
X264_THREADS = 1

Affine = tuple[float, float, float, float, float, float]
"""Pillow's AFFINE coefficients: output point (x, y) samples the source at
(a x + b y + c, d x + e y + f), in pixels, with pixel centres at +0.5."""


class InvalidSourceImage(Exception):
    """The bytes are not a PNG, JPEG or WebP image this renderer can use; the message says why."""


@dataclass(frozen=True)
class VideoSettings:
    """Images larger than `max_side` are scaled down; smaller ones keep their size (at most one
    pixel is cropped to make width and height even), since upscaling adds bytes, not detail.
    x264 picks the profile: High at these settings; crf 0 is lossless (High 4:4:4 Predictive,
    which browsers do not play), for inspecting the motion alone."""

    max_side: int = 512
    fps: int = 25
    seconds: float = 4.0
    crf: int = 20
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        if self.max_side < MIN_SIDE:
            raise ValueError(f"max_side must be at least {MIN_SIDE}")
        if self.fps < 1 or round(self.fps * self.seconds) < 2:
            raise ValueError("fps and seconds must give at least two frames")


@dataclass(frozen=True)
class Pose:
    """How the still moves in one frame: zoom about a pivot, rotation, and a shift; lengths are
    fractions of the frame's height so a pose means the same at any size. The renderer adds a
    constant zoom on top so that no pose ever shows the still's edges."""

    zoom: float
    angle_degrees: float
    shift_x: float
    shift_y: float
    pivot_y: float  # 0 top .. 1 bottom; x is always the centre


def _breathing(phase: float) -> Pose:
    """v1: a slow breath, the head rising a little as the frame eases in."""
    breath = (1 - math.cos(phase)) / 2
    return Pose(1 + 0.02 * breath, 0.0, 0.0, -0.008 * breath, 0.85)


def _sway(phase: float) -> Pose:
    """v2: a gentle side-to-side sway, pivoting low like a body shifting its weight."""
    return Pose(1.0, 1.1 * math.sin(phase), 0.006 * math.sin(phase), 0.0, 1.0)


def _nod(phase: float) -> Pose:
    """v3: a small nod twice per loop, with a slight tilt and a drifting zoom."""
    return Pose(
        1 + 0.01 * math.sin(phase),
        0.6 * math.sin(phase + math.pi / 3),
        0.0,
        0.007 * math.sin(2 * phase),
        0.6,
    )


MOTIONS: dict[str, Callable[[float], Pose]] = {"v1": _breathing, "v2": _sway, "v3": _nod}
TEMPLATES = tuple(MOTIONS)


def render_idle_video(image: bytes, template: str, settings: VideoSettings | None = None) -> bytes:
    """Blocking and CPU-bound (about 1 s of CPU per 5 s of 512x512 video, spread over two
    cores); Pillow's warps and x264 release the GIL for most of it. Thread-safe: calls share
    nothing. Raises InvalidSourceImage for an image it cannot use, ValueError for an unknown
    template."""
    if template not in MOTIONS:
        raise ValueError(f"unknown template {template!r}; one of {', '.join(TEMPLATES)}")
    settings = settings or VideoSettings()
    planes = _yuv_planes(_decode(image, settings.max_side))
    width, height = planes[0].size
    maps = _clip_maps(MOTIONS[template], round(settings.fps * settings.seconds), width, height)
    # faststart moves the index to the front in a second pass that reopens the file by name.
    # closing(): if encoding fails, the warp threads stop now, not when the traceback is freed.
    with (
        tempfile.TemporaryDirectory(prefix="ojin-idle-video-") as scratch,
        closing(_frames(planes, maps)) as frames,
    ):
        path = Path(scratch, "idle.mp4")
        _encode(frames, width, height, settings, path)
        return path.read_bytes()


def _encode(
    frames: Iterator[av.VideoFrame], width: int, height: int, settings: VideoSettings, path: Path
) -> None:
    # bitexact: no library version in the file, so only the pixels decide the bytes.
    options = {"movflags": "+faststart", "fflags": "+bitexact"}
    with av.open(str(path), "w", format="mp4", options=options) as container:
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
        context = stream.codec_context
        # Tagged, so players need not guess the matrix from the frame size.
        context.color_range = ColorRange.MPEG
        context.colorspace = Colorspace.ITU709
        context.color_primaries = ColorPrimaries.BT709
        context.color_trc = ColorTrc.BT709
        for index, frame in enumerate(frames):
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
            # A large JPEG decodes at 1/2, 1/4 or 1/8 scale, still at least max_side: faster.
            opened.draft(None, (max_side, max_side))
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except UnidentifiedImageError:
        raise InvalidSourceImage("not a PNG, JPEG or WebP image") from None
    except (OSError, EOFError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidSourceImage(f"the image cannot be decoded: {exc}") from None
    scale = min(1.0, max_side / max(image.size))
    width = round(image.width * scale) // 2 * 2
    height = round(image.height * scale) // 2 * 2
    if min(width, height) < MIN_SIDE:
        raise InvalidSourceImage(
            f"the image is {image.width}x{image.height}; too small or too narrow for a video "
            f"(under {MIN_SIDE} pixels on a side at {max_side} pixels on the longest)"
        )
    image = _flatten(image)
    if scale < 1:
        return image.resize((width, height), Image.Resampling.LANCZOS)
    return image.crop((0, 0, width, height))


def _flatten(image: Image.Image) -> Image.Image:
    """Transparency over a neutral grey, and any mode (palette, grey, CMYK, 16-bit) as RGB."""
    if image.mode.startswith("I"):  # 16-bit grey PNG: Pillow's convert would clip, not scale
        return image.convert("I").point(lambda value: value * (1 / 256)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _yuv_planes(image: Image.Image) -> list[Image.Image]:
    """Y at full size, U and V at half, BT.709 limited range as tagged in the stream: converted
    once, by libswscale in its bit-exact mode so every CPU gives the same planes."""
    frame = av.VideoFrame.from_image(image).reformat(
        format="yuv420p",
        src_colorspace=Colorspace.ITU709,
        dst_colorspace=Colorspace.ITU709,
        interpolation=Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.BITEXACT,
        src_color_range=ColorRange.JPEG,
        dst_color_range=ColorRange.MPEG,
        threads=1,
    )
    return [
        Image.frombytes("L", (plane.line_size, plane.height), bytes(plane)).crop(
            (0, 0, plane.width, plane.height)
        )
        for plane in frame.planes
    ]


def _clip_maps(
    motion: Callable[[float], Pose], frames: int, width: int, height: int
) -> list[Affine]:
    """Each frame's warp, all zoomed in about the centre by the one factor that keeps every
    frame's corners inside the still: no borders, whatever the motion or the aspect ratio."""
    maps = [_motion_map(motion(2 * math.pi * i / frames), width, height) for i in range(frames)]
    half_w, half_h = width / 2, height / 2
    reach = [  # how far from the centre each frame's corners land, in half-widths and heights
        max(abs(a * x + b * y + c - half_w) / half_w, abs(d * x + e * y + f - half_h) / half_h)
        for a, b, c, d, e, f in maps
        for x, y in ((0, 0), (width, 0), (0, height), (width, height))
    ]
    cover = max(1.0, *reach)
    return [
        (a / cover, b / cover, half_w + (c - half_w) / cover,
         d / cover, e / cover, half_h + (f - half_h) / cover)
        for a, b, c, d, e, f in maps
    ]  # fmt: skip


def _motion_map(pose: Pose, width: int, height: int) -> Affine:
    """The pose as Pillow's output-to-source map: i = P + R(-angle)(o - P - t) / zoom."""
    pivot_x, pivot_y = width / 2, pose.pivot_y * height
    origin_x, origin_y = pivot_x + pose.shift_x * height, pivot_y + pose.shift_y * height
    angle = math.radians(pose.angle_degrees)
    cos, sin = math.cos(angle) / pose.zoom, math.sin(angle) / pose.zoom
    return (
        cos,
        sin,
        pivot_x - cos * origin_x - sin * origin_y,
        -sin,
        cos,
        pivot_y + sin * origin_x - cos * origin_y,
    )


def _frames(planes: list[Image.Image], maps: list[Affine]) -> Iterator[av.VideoFrame]:
    """Frames in order, warped by two threads a few frames ahead of the encoder (Pillow's warp
    releases the GIL): on two cores that takes the warp off the critical path."""
    width, height = planes[0].size

    def warp_frame(index: int) -> av.VideoFrame:
        a, b, c, d, e, f = maps[index]
        frame = av.VideoFrame(width, height, "yuv420p")
        for source, plane in zip(planes, frame.planes, strict=True):
            scale = source.width / width  # the map is in luma pixels; chroma is half size
            warped = source.transform(
                source.size,
                Image.Transform.AFFINE,
                (a, b, c * scale, d, e, f * scale),
                Image.Resampling.BILINEAR,
            )
            if plane.line_size != plane.width:  # rows padded for alignment
                padded = Image.new("L", (plane.line_size, plane.height))
                padded.paste(warped)
                warped = padded
            plane.update(warped.tobytes())
        return frame

    with ThreadPoolExecutor(WARP_THREADS, thread_name_prefix="idle-video-warp") as pool:
        ahead: deque[Future[av.VideoFrame]] = deque()
        for index in range(len(maps)):
            while len(ahead) < FRAMES_AHEAD and index + len(ahead) < len(maps):
                ahead.append(pool.submit(warp_frame, index + len(ahead)))
            yield ahead.popleft().result()
