"""Synthetic avatar portraits for the demo seed: drawn here, deterministically, as PNG files.

No third-party images ship with ojin-local. Each row of pixels is built from a few colour spans
(background, hair, face, eyes, shoulders), so drawing needs no imaging library and costs well
under a millisecond per portrait.
"""

from __future__ import annotations

import functools
import math
import struct
import zlib
from dataclasses import dataclass

SIZE = 256

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Palette:
    background_top: Colour
    background_bottom: Colour
    skin: Colour
    hair: Colour
    clothes: Colour


PALETTES = (
    Palette((236, 229, 214), (200, 188, 168), (224, 172, 138), (58, 40, 30), (46, 84, 120)),
    Palette((210, 226, 236), (160, 186, 204), (176, 122, 92), (24, 20, 20), (128, 52, 60)),
    Palette((226, 236, 214), (178, 196, 160), (240, 204, 176), (196, 150, 80), (60, 100, 70)),
)


@functools.cache  # drawn once per process: a reset re-seeds in milliseconds
def portrait_png(index: int) -> bytes:
    """Portrait number `index` (0-based; palettes repeat) as PNG bytes."""
    palette = PALETTES[index % len(PALETTES)]
    rows = b"".join(b"\x00" + _row(y, palette) for y in range(SIZE))
    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 2, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(rows, 6)),
            _chunk(b"IEND", b""),
        ]
    )


def _row(y: int, p: Palette) -> bytes:
    shade = y / (SIZE - 1)
    background = bytes(
        round(top + (bottom - top) * shade)
        for top, bottom in zip(p.background_top, p.background_bottom, strict=True)
    )
    row = bytearray(background * SIZE)
    centre = SIZE // 2
    # Shoulders: the top half of a wide ellipse rising from the bottom edge.
    _span(row, _ellipse_half_width(y, SIZE + 40, 150, 110), centre, p.clothes)
    # Neck, then hair behind the face, then the face, then the eyes.
    if 150 <= y < 200:
        _span(row, 26, centre, p.skin)
    _span(row, _ellipse_half_width(y, 100, 64, 70), centre, p.hair)
    _span(row, _ellipse_half_width(y, 112, 52, 62), centre, p.skin)
    if 100 <= y < 110:
        for eye_x in (centre - 22, centre + 22):
            _span(row, 6, eye_x, (40, 32, 28))
    if 136 <= y < 141:
        _span(row, 14, centre, tuple(round(c * 0.7) for c in p.skin))  # type: ignore[arg-type]
    return bytes(row)


def _ellipse_half_width(y: int, centre_y: int, radius_x: int, radius_y: int) -> int:
    dy = (y - centre_y) / radius_y
    return int(radius_x * math.sqrt(1 - dy * dy)) if abs(dy) < 1 else 0


def _span(row: bytearray, half_width: int, centre_x: int, colour: Colour) -> None:
    if half_width <= 0:
        return
    start, end = max(0, centre_x - half_width), min(SIZE, centre_x + half_width)
    row[start * 3 : end * 3] = bytes(colour) * (end - start)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
