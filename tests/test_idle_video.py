"""The idle-video renderer on its own: what it accepts, what it refuses, and what it makes.

(End to end through the API and the job consumer: test_jobs.py.)
"""

from __future__ import annotations

import io
import itertools
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from ojin_local.media.idle_video import InvalidSourceImage, VideoSettings, render_idle_video

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
    return image.convert(mode)


def encoded(image: Image.Image, image_format: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, image_format, **options)
    return out.getvalue()


def decoded(mp4: bytes) -> tuple[av.video.stream.VideoStream, list[np.ndarray]]:
    container = av.open(io.BytesIO(mp4))
    stream = container.streams.video[0]
    return stream, [f.to_ndarray(format="gray").astype(int) for f in container.decode(stream)]


@pytest.mark.parametrize(
    ("image_format", "mode"), [("PNG", "RGB"), ("PNG", "RGBA"), ("JPEG", "RGB"), ("WEBP", "RGB")]
)
def test_png_jpeg_and_webp_become_looping_h264(image_format: str, mode: str) -> None:
    mp4 = render_idle_video(encoded(portrait(mode=mode), image_format), "v1", SMALL)
    assert mp4.index(b"moov") < mp4.index(b"mdat")
    stream, frames = decoded(mp4)
    assert stream.codec_context.name == "h264"
    assert stream.codec_context.pix_fmt == "yuv420p"
    assert stream.average_rate == Fraction(25)
    assert (stream.width, stream.height) == (128, 102)  # 200x160 scaled to 128, made even
    assert len(frames) == 50
    motion = [np.abs(frame - frames[0]).mean() for frame in frames]
    assert max(motion) > 1.0
    assert np.abs(frames[-1] - frames[0]).mean() < max(motion) / 3  # last flows into first


def test_motion_is_sub_pixel_smooth() -> None:
    """Consecutive frames differ a little and evenly: no jumps of whole pixels every few frames."""
    _, frames = decoded(render_idle_video(encoded(portrait(), "PNG"), "v2", SMALL))
    steps = [np.abs(b - a).mean() for a, b in itertools.pairwise(frames)]
    assert max(steps) < 3 * np.median(steps) + 0.5


def test_templates_differ_and_output_is_deterministic() -> None:
    source = encoded(portrait(), "PNG")
    videos = {t: render_idle_video(source, t, SMALL) for t in ("v1", "v2", "v3")}
    assert len(set(videos.values())) == 3
    assert render_idle_video(source, "v3", SMALL) == videos["v3"]
    middles = {t: decoded(v)[1][12] for t, v in videos.items()}
    assert np.abs(middles["v1"] - middles["v2"]).mean() > 0.5
    assert np.abs(middles["v2"] - middles["v3"]).mean() > 0.5


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°: stored landscape, shown portrait
    source = encoded(portrait((200, 120)), "JPEG", exif=exif)
    stream, _ = decoded(render_idle_video(source, "v1", SMALL))
    assert stream.height > stream.width


def test_images_are_never_upscaled_and_always_even() -> None:
    stream, _ = decoded(render_idle_video(encoded(portrait((61, 47)), "PNG"), "v1", SMALL))
    assert (stream.width, stream.height) == (60, 46)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"hello, I am a text file", "not a PNG, JPEG or WebP"),
        (encoded(portrait(), "GIF"), "not a PNG, JPEG or WebP"),
        (encoded(portrait(), "BMP"), "not a PNG, JPEG or WebP"),
        (encoded(portrait(), "PNG")[:300], "cannot be decoded"),
        (encoded(portrait((8, 8)), "PNG"), "too small"),
    ],
)
def test_unusable_images_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidSourceImage, match=reason):
        render_idle_video(data, "v1", SMALL)


def test_decompression_bombs_are_refused() -> None:
    huge = Image.new("L", (8000, 6000))
    with pytest.raises(InvalidSourceImage, match="pixels are accepted"):
        render_idle_video(encoded(huge, "PNG"), "v1", SMALL)
