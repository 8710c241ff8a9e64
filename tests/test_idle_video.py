"""The idle-video renderer on its own: what it accepts, what it refuses, and what it makes.

(End to end through the API and the job consumer: test_jobs.py.)
"""

from __future__ import annotations

import io
import itertools
import struct
import zlib
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from ojin_local import spec
from ojin_local.media.idle_video import (
    TEMPLATES,
    InvalidSourceImage,
    VideoSettings,
    render_idle_video,
)

SMALL = VideoSettings(max_side=128, seconds=2.0)


def portrait(size: tuple[int, int] = (200, 160), mode: str = "RGB") -> Image.Image:
    """A face-like drawing with edges and gradients, so motion shows in the frames."""
    width, height = size
    ramp = np.linspace(40, 220, width, dtype=np.uint8)
    image = Image.fromarray(np.tile(ramp, (height, 1)), "L").convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.3, height * 0.15, width * 0.7, height * 0.7), fill=(230, 190, 160))
    draw.ellipse((width * 0.4, height * 0.35, width * 0.45, height * 0.4), fill=(20, 20, 20))
    draw.ellipse((width * 0.55, height * 0.35, width * 0.6, height * 0.4), fill=(20, 20, 20))
    draw.rectangle((width * 0.2, height * 0.75, width * 0.8, height), fill=(40, 60, 140))
    if mode == "RGBA":  # transparent corners, as a cut-out portrait has
        alpha = Image.new("L", size, 0)
        ImageDraw.Draw(alpha).ellipse((0, 0, width, height * 2), fill=255)
        image.putalpha(alpha)
    return image.convert(mode)


def encoded(image: Image.Image, image_format: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, image_format, **options)
    return out.getvalue()


def decoded(mp4: bytes, pixels: str = "gray") -> tuple[av.video.stream.VideoStream, list]:
    """The stream (still readable after the container closes) and every frame as an array."""
    with av.open(io.BytesIO(mp4)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format=pixels).astype(int) for f in container.decode(stream)]
    return stream, frames


def top_level_boxes(mp4: bytes) -> list[bytes]:
    boxes, offset = [], 0
    while offset < len(mp4):
        size, kind = struct.unpack_from(">I4s", mp4, offset)
        boxes.append(kind)
        offset += size
    return boxes


def difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


@pytest.mark.parametrize(
    ("image_format", "mode"),
    [("PNG", "RGB"), ("PNG", "RGBA"), ("PNG", "L"), ("PNG", "P"), ("JPEG", "RGB"), ("WEBP", "RGB")],
)
def test_png_jpeg_and_webp_become_looping_faststart_h264(image_format: str, mode: str) -> None:
    mp4 = render_idle_video(encoded(portrait(mode=mode), image_format), "v1", SMALL)
    boxes = top_level_boxes(mp4)
    assert boxes[0] == b"ftyp"
    assert boxes.index(b"moov") < boxes.index(b"mdat")  # faststart: playable while downloading
    stream, frames = decoded(mp4)
    context = stream.codec_context
    assert (context.name, context.profile, context.pix_fmt) == ("h264", "High", "yuv420p")
    assert context.colorspace == 1 and context.color_range == 1  # tagged BT.709, limited range
    assert stream.average_rate == Fraction(25)
    assert float(stream.duration * stream.time_base) == pytest.approx(2.0, abs=0.05)
    assert (stream.width, stream.height) == (128, 102)  # 200x160 scaled to 128, made even
    assert len(frames) == 50
    assert max(difference(frame, frames[0]) for frame in frames) > 1.0  # it moves


def test_every_template_the_spec_offers_has_a_motion() -> None:
    assert spec.enum("IdleVideoGenerationRequest", "reference_template") == TEMPLATES


@pytest.mark.parametrize("template", TEMPLATES)
def test_motion_is_smooth_and_loops_without_a_seam(template: str) -> None:
    """Encoded losslessly, so only motion shows: consecutive frames differ a little and evenly
    (sub-pixel motion, no whole-pixel jumps every few frames), and the step from the last frame
    back to the first is one more such step (no jump, and no repeated frame either)."""
    lossless = VideoSettings(max_side=128, seconds=2.0, crf=0)
    _, frames = decoded(render_idle_video(encoded(portrait(), "PNG"), template, lossless))
    steps = [difference(a, b) for a, b in itertools.pairwise(frames)]
    assert max(steps) < 3 * np.median(steps) + 0.5
    seam = difference(frames[-1], frames[0])
    assert 0.5 * min(steps[0], steps[-1]) < seam < 2 * max(steps[0], steps[-1])


def test_templates_move_differently_and_output_is_deterministic() -> None:
    source = encoded(portrait(), "PNG")
    videos = {t: render_idle_video(source, t, SMALL) for t in TEMPLATES}
    assert len(set(videos.values())) == 3
    assert render_idle_video(source, "v3", SMALL) == videos["v3"]
    # A quarter of the way in, each template has moved the face somewhere else.
    quarters = {t: decoded(v)[1][12] for t, v in videos.items()}
    for one, other in itertools.combinations(TEMPLATES, 2):
        assert difference(quarters[one], quarters[other]) > 0.5, (one, other)


def test_nothing_in_the_file_depends_on_when_or_with_what_it_was_made() -> None:
    mp4 = render_idle_video(encoded(portrait(), "PNG"), "v2", SMALL)
    mvhd = mp4.index(b"mvhd") + 4
    version = mp4[mvhd]
    creation, modification = struct.unpack_from(">II" if version == 0 else ">QQ", mp4, mvhd + 4)
    assert creation == modification == 0
    assert b"Lavf" not in mp4  # no muxer version string


@pytest.mark.parametrize("size", [(160, 160), (320, 120), (100, 260)])
def test_frames_never_show_the_edges_of_the_still(size: tuple[int, int]) -> None:
    """Zoomed in just enough: a white still gives white frames, with no dark or green wedges."""
    white = encoded(Image.new("RGB", size, (255, 255, 255)), "PNG")
    for template in TEMPLATES:
        _, frames = decoded(render_idle_video(white, template, SMALL), "rgb24")
        assert min(frame.min() for frame in frames) > 240, template


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°: stored landscape, shown portrait
    source = encoded(portrait((200, 120)), "JPEG", exif=exif)
    stream, _ = decoded(render_idle_video(source, "v1", SMALL))
    assert stream.height > stream.width


def test_small_images_are_never_upscaled_and_always_even() -> None:
    stream, _ = decoded(render_idle_video(encoded(portrait((61, 47)), "PNG"), "v1", SMALL))
    assert (stream.width, stream.height) == (60, 46)


def test_large_images_are_scaled_down() -> None:
    stream, _ = decoded(render_idle_video(encoded(portrait((3000, 2000)), "JPEG"), "v1", SMALL))
    assert (stream.width, stream.height) == (128, 84)


def test_16_bit_grey_is_scaled_not_clipped() -> None:
    ramp = np.tile(np.linspace(0, 65535, 128).astype(np.uint16), (96, 1))
    _, frames = decoded(render_idle_video(encoded(Image.fromarray(ramp), "PNG"), "v1", SMALL))
    assert 90 < frames[0].mean() < 160  # clipped to 8 bits it would be nearly all white


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size and holds almost no pixels: what a decompression bomb looks like."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0"))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"hello, I am a text file", "not a PNG, JPEG or WebP"),
        (encoded(portrait(), "GIF"), "not a PNG, JPEG or WebP"),
        (encoded(portrait(), "BMP"), "not a PNG, JPEG or WebP"),
        (encoded(portrait(), "PNG")[:300], "cannot be decoded"),
        (encoded(portrait(), "JPEG")[:400], "cannot be decoded"),
        (encoded(portrait((8, 8)), "PNG"), "too small"),
        (encoded(portrait((400, 10)), "PNG"), "too narrow"),
        (png_header_only(8000, 6000), "pixels are accepted"),
        (png_header_only(100_000, 100_000), "cannot be decoded"),  # Pillow's own bomb guard
    ],
)
def test_unusable_images_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidSourceImage, match=reason):
        render_idle_video(data, "v1", SMALL)


def test_unknown_templates_and_settings_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="unknown template"):
        render_idle_video(encoded(portrait(), "PNG"), "v4", SMALL)
    with pytest.raises(ValueError, match="max_side"):
        VideoSettings(max_side=8)
    with pytest.raises(ValueError, match="two frames"):
        VideoSettings(seconds=0)
